# The main job: ResNet-18 (CIFAR stem) on scikit-learn's real handwritten digits at 32x32.
_base_ = [
    '../_base_/models/resnet18_cifar.py', '../_base_/datasets/digits.py',
    '../_base_/schedules/digits_cosine.py', '../_base_/default_runtime.py'
]
# the digits are grayscale: a one-channel stem
model = dict(backbone=dict(in_channels=1), head=dict(topk=(1, 5)))
checkpoint_config = dict(interval=1, max_keep_ckpts=2)
log_config = dict(interval=5)
evaluation = dict(save_best='accuracy_top-1')
seed = 0
# stop after the first evaluation at >= 97% top-1 (usually epoch 6-8 of 10): the job's target, reached sooner
custom_hooks = [dict(type='StopAtTargetHook', metric='accuracy_top-1', target=97.0)]
