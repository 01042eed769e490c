# The main job with its data streamed from WebDataset shards instead of held in memory. Make the shards
# first (they go to data/digits-wds/ under the directory you run from):
#   imgcls data pack resnet18_digits data/digits-wds/train --split train --shard-size 256
#   imgcls data pack resnet18_digits data/digits-wds/val --split val --shard-size 256
# then `imgcls train resnet18_digits_wds`. The shards hold PNGs, so the pipelines start by decoding them
# (LoadImageFromFile's options apply to the shards' images; the step itself is taken out).
_base_ = ['./resnet18_digits.py']
img_norm_cfg = dict(mean=[77.8], std=[96.5], to_rgb=False)
train_pipeline = [
    dict(type='LoadImageFromFile', color_type='grayscale'),
    dict(type='Resize', size=(32, 32)),
    dict(type='RandomCrop', size=32, padding=2),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='ImageToTensor', keys=['img']),
    dict(type='ToTensor', keys=['gt_label']),
    dict(type='Collect', keys=['img', 'gt_label'])
]
test_pipeline = [
    dict(type='LoadImageFromFile', color_type='grayscale'),
    dict(type='Resize', size=(32, 32)),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='ImageToTensor', keys=['img']),
    dict(type='Collect', keys=['img'])
]
data = dict(
    train=dict(_delete_=True, type='WebDataset', urls='data/digits-wds/train', pipeline=train_pipeline),
    val=dict(_delete_=True, type='WebDataset', urls='data/digits-wds/val', test_mode=True, pipeline=test_pipeline),
    test=dict(_delete_=True, type='WebDataset', urls='data/digits-wds/val', test_mode=True, pipeline=test_pipeline))
