# batch 16 x 64 = 1024: SGD lr 0.5 with no weight decay on norms, constant warm-up then poly decay per
# iteration, 300 epochs, mixed precision
_base_ = [
    '../_base_/models/shufflenet_v2_1x.py',
    '../_base_/datasets/imagenet_bs64_pil_resize.py',
    '../_base_/schedules/imagenet_bs256.py',
    '../_base_/default_runtime.py'
]

data = dict(samples_per_gpu=64)
optimizer = dict(
    type='SGD',
    lr=0.5,
    momentum=0.9,
    weight_decay=0.00004,
    paramwise_cfg=dict(norm_decay_mult=0))
lr_config = dict(
    _delete_=True,
    policy='poly',
    min_lr=0,
    by_epoch=False,
    warmup='constant',
    warmup_iters=5000)
runner = dict(type='EpochBasedRunner', max_epochs=300)
fp16 = dict(loss_scale='dynamic')
