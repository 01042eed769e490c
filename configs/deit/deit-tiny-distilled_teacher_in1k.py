# DeiT-Tiny trained with a teacher, as in the DeiT paper: the distillation token learns the teacher's top class
# (hard distillation) and the class token the labels, each weighted 0.5. The paper's teacher is a RegNetY-16GF
# trained on ImageNet-1k; give its config and checkpoint here (any imgcls classifier with 1000 classes works).
_base_ = './deit-tiny-distilled_pt-4xb256_in1k.py'

model = dict(
    type='DistilledImageClassifier',
    teacher=dict(config='configs/regnet/regnetx-1.6gf_8xb128_in1k.py', checkpoint='teacher.pth'),
    head=dict(distill=dict(mode='hard', alpha=0.5)),
)
