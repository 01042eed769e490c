# EfficientNet-B3 for ImageNet, 1000 classes. The backbone pads like TensorFlow and uses BN eps 1e-3,
# as the TF-trained weights mmcls converted (and timm's tf_efficientnet_b3) need. For torchvision's or timm's
# efficientnet_b3 weights use backbone conv_cfg=None (symmetric padding) and norm_cfg=dict(type='BN').
model = dict(
    type='ImageClassifier',
    backbone=dict(type='EfficientNet', arch='b3'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=1536,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
    ))
