# MViTv2-small on ImageNet-1k: 8 GPUs x 256 images
_base_ = [
    '../_base_/models/mvit/mvitv2-small.py',
    '../_base_/datasets/imagenet_bs64_swin_224.py',
    '../_base_/schedules/imagenet_bs2048_AdamW.py',
    '../_base_/default_runtime.py'
]

data = dict(samples_per_gpu=256)

# AdamW without weight decay on norms, biases and position tables, gradients clipped at norm 1
paramwise_cfg = dict(
    norm_decay_mult=0.0,
    bias_decay_mult=0.0,
    custom_keys={
        '.pos_embed': dict(decay_mult=0.0),
        '.rel_pos_h': dict(decay_mult=0.0),
        '.rel_pos_w': dict(decay_mult=0.0)
    })

optimizer = dict(lr=0.00025, paramwise_cfg=paramwise_cfg)
optimizer_config = dict(grad_clip=dict(max_norm=1.0))

# cosine schedule after 70 warm-up epochs
lr_config = dict(
    policy='CosineAnnealing',
    warmup='linear',
    warmup_iters=70,
    warmup_by_epoch=True)
