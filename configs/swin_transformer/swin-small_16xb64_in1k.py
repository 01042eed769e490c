# Swin-Small on ImageNet-1k: AdamW for a total batch of 1024 (16 GPUs x 64), 300 epochs
_base_ = [
    '../_base_/models/swin_transformer/small_224.py',
    '../_base_/datasets/imagenet_bs64_swin_224.py',
    '../_base_/schedules/imagenet_bs1024_adamw_swin.py',
    '../_base_/default_runtime.py'
]
