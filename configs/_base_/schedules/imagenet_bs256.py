# the classic ImageNet schedule: SGD, lr 0.1 for batch 256, x0.1 at epochs 30, 60, 90, 100 epochs
optimizer = dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=0.0001)
optimizer_config = dict(grad_clip=None)
lr_config = dict(policy='step', step=[30, 60, 90])
runner = dict(type='EpochBasedRunner', max_epochs=100)
