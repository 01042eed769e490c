# batch 16 x 64 = 1024, PIL (bilinear) resizing as mmcls's imagenet_bs64_pil_resize
_base_ = [
    '../_base_/models/shufflenet_v1_1x.py',
    '../_base_/datasets/imagenet_bs32_pil_resize.py',
    '../_base_/schedules/imagenet_bs1024_linearlr_bn_nowd.py',
    '../_base_/default_runtime.py'
]

data = dict(samples_per_gpu=64)
