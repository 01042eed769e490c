# torchvision's MobileNetV3 recipe: RMSprop, lr x0.973 every 2 epochs, 600 epochs, batch 8 x 128.
# (mmcls's own config also adds AutoAugment and RandomErasing to the training pipeline.)
_base_ = [
    '../_base_/models/mobilenet_v3_small_imagenet.py',
    '../_base_/datasets/imagenet_bs32.py',
    '../_base_/default_runtime.py'
]

data = dict(samples_per_gpu=128, workers_per_gpu=4)
evaluation = dict(interval=10, metric='accuracy')

optimizer = dict(
    type='RMSprop',
    lr=0.064,
    alpha=0.9,
    momentum=0.9,
    eps=0.0316,
    weight_decay=1e-5)
optimizer_config = dict(grad_clip=None)
lr_config = dict(policy='step', step=2, gamma=0.973, by_epoch=True)
runner = dict(type='EpochBasedRunner', max_epochs=600)
