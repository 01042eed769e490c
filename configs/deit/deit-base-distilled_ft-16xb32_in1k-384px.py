_base_ = './deit-base_ft-16xb32_in1k-384px.py'

model = dict(
    backbone=dict(type='DistilledVisionTransformer'),
    head=dict(type='DeiTClsHead'),
    # fine-tunes a 224 px checkpoint: its pos_embed is resized from 14x14 to 24x24 patches on load
    # init_cfg=dict(type='Pretrained', checkpoint='deit-base_224.pth'),
)
