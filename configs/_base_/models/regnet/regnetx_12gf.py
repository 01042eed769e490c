# RegNetX-12GF (pycls design space), 1000 classes
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='RegNet',
        arch='regnetx_12gf'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=2240,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
    ))
