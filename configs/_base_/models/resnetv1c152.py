# ResNetV1c-152 (ResNet-C: a deep stem of three 3x3 convs), 1000 classes
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNetV1c',
        depth=152,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
    ))
