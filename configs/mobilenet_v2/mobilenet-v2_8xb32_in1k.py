# batch 8 x 32 = 256: SGD lr 0.045, lr x0.98 every epoch, 300 epochs
_base_ = [
    '../_base_/models/mobilenet_v2_1x.py',
    '../_base_/datasets/imagenet_bs32_pil_resize.py',
    '../_base_/schedules/imagenet_bs256.py',
    '../_base_/default_runtime.py'
]

optimizer = dict(type='SGD', lr=0.045, momentum=0.9, weight_decay=0.00004)
lr_config = dict(_delete_=True, policy='step', gamma=0.98, step=1)
runner = dict(type='EpochBasedRunner', max_epochs=300)
