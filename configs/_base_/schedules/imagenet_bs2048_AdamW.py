# AdamW for a total batch of 2048 (64 GPUs x 32): lr 0.0015 (ClassyVision's 0.003 for 4096 images, scaled
# linearly), weight decay 0.3, gradients clipped at norm 1, cosine decay to 0 after 10000 warm-up iterations,
# no weight decay on the class token and position embedding, 300 epochs
optimizer = dict(type='AdamW', lr=0.0015, weight_decay=0.3)
optimizer_config = dict(grad_clip=dict(max_norm=1.0))
paramwise_cfg = dict(
    custom_keys={
        '.backbone.cls_token': dict(decay_mult=0.0),
        '.backbone.pos_embed': dict(decay_mult=0.0)
    })
lr_config = dict(
    policy='CosineAnnealing',
    min_lr=0,
    warmup='linear',
    warmup_iters=10000,
    warmup_ratio=1e-4)
runner = dict(type='EpochBasedRunner', max_epochs=300)
