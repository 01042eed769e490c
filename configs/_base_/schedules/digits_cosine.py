# a short cosine schedule for the small digits dataset (23 iterations per epoch at batch 64)
optimizer = dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True)
optimizer_config = dict(grad_clip=None)
lr_config = dict(policy='CosineAnnealing', min_lr=0., by_epoch=False,
                 warmup='linear', warmup_iters=23, warmup_ratio=0.1)
runner = dict(type='EpochBasedRunner', max_epochs=10)
