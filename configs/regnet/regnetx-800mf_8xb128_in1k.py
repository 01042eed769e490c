_base_ = [
    '../_base_/models/regnet/regnetx_800mf.py', '../_base_/datasets/imagenet_bs32.py',
    '../_base_/schedules/imagenet_bs256.py', '../_base_/default_runtime.py'
]

# pycls's RegNet weights take BGR images: these pipelines normalize in BGR order
img_norm_cfg = dict(mean=[103.53, 116.28, 123.675], std=[57.375, 57.12, 58.395], to_rgb=False)
# PCA lighting noise with pycls's eigenvalues / eigenvectors (RGB order; alphastd in 0..255 units).
# Lighting(to_rgb=True) turns mmcls's BGR image into RGB and Normalize(to_rgb=True) turns it back, so
# the model sees BGR in training as in testing.
EIGVAL = [0.2175, 0.0188, 0.0045]
EIGVEC = [[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.814], [-0.5836, -0.6948, 0.4203]]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', size=224),
    dict(type='RandomFlip', flip_prob=0.5, direction='horizontal'),
    dict(type='Lighting', eigval=EIGVAL, eigvec=EIGVEC, alphastd=25.5, to_rgb=True),
    dict(type='Normalize', **dict(img_norm_cfg, to_rgb=True)),
    dict(type='ImageToTensor', keys=['img']),
    dict(type='ToTensor', keys=['gt_label']),
    dict(type='Collect', keys=['img', 'gt_label'])
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', size=(256, -1)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='ImageToTensor', keys=['img']),
    dict(type='Collect', keys=['img'])
]
data = dict(
    samples_per_gpu=128,
    workers_per_gpu=8,
    train=dict(pipeline=train_pipeline),
    val=dict(pipeline=test_pipeline),
    test=dict(pipeline=test_pipeline))
# recompute the BatchNorm statistics on 8192 training images after every epoch, before checkpointing
custom_hooks = [dict(type='PreciseBNHook', num_samples=8192, interval=1, priority='ABOVE_NORMAL')]
# SGD with nesterov; lr 0.8 for a total batch of 1024 (8 GPUs x 128), cosine after 5 warm-up epochs
optimizer = dict(type='SGD', lr=0.8, momentum=0.9, weight_decay=5e-5, nesterov=True)
lr_config = dict(
    _delete_=True,
    policy='CosineAnnealing',
    min_lr=0,
    warmup='linear',
    warmup_iters=5,
    warmup_ratio=0.1,
    warmup_by_epoch=True)
