# scikit-learn's 1,797 real 8x8 handwritten digits (bundled with the package, nothing to download),
# upsampled to 32x32. Fixed stratified split: 1,437 train / 360 val (seed 0). Grayscale, one channel.
dataset_type = 'Digits'
img_norm_cfg = dict(mean=[77.8], std=[96.5], to_rgb=False)
train_pipeline = [
    dict(type='Resize', size=(32, 32)),
    dict(type='RandomCrop', size=32, padding=2),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='ImageToTensor', keys=['img']),
    dict(type='ToTensor', keys=['gt_label']),
    dict(type='Collect', keys=['img', 'gt_label'])
]
test_pipeline = [
    dict(type='Resize', size=(32, 32)),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='ImageToTensor', keys=['img']),
    dict(type='Collect', keys=['img'])
]
data = dict(
    samples_per_gpu=64,
    workers_per_gpu=1,
    train=dict(type=dataset_type, split='train', pipeline=train_pipeline),
    val=dict(type=dataset_type, split='val', pipeline=test_pipeline, test_mode=True),
    test=dict(type=dataset_type, split='val', pipeline=test_pipeline, test_mode=True))
evaluation = dict(interval=1, metric='accuracy', metric_options=dict(topk=(1, 5)))
