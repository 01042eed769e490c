# VGG-19 with its 4096-4096-1000 classifier (224x224 inputs)
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='VGG',
        depth=19,
        num_classes=1000),
    neck=None,
    head=dict(
        type='ClsHead',
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
    ))
