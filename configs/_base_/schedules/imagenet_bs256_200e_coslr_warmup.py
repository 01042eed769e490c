# SGD, lr 0.1 for batch 256, 25025 iterations of linear warm-up from 0.25x, then cosine decay over 200 epochs
optimizer = dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=0.0001)
optimizer_config = dict(grad_clip=None)
lr_config = dict(
    policy='CosineAnnealing',
    min_lr=0,
    warmup='linear',
    warmup_iters=25025,
    warmup_ratio=0.25)
runner = dict(type='EpochBasedRunner', max_epochs=200)
