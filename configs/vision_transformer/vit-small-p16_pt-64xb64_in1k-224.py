# ViT-S/16 trained on ImageNet-1k at 224x224 (64 GPUs x 64 images, AdamW, Mixup).
# mmcls's pre-training config also sets head=dict(hidden_dim=3072), a tanh "pre-logits" layer as in the
# ViT paper's ImageNet-21k pre-training; it is left out here so that the released ImageNet-1k weights
# (timm, torchvision, mmcls) load into this model as they are. Add it back for pre-training from scratch.
_base_ = [
    '../_base_/models/vit-small-p16.py',
    '../_base_/datasets/imagenet_bs64_pil_resize_autoaug.py',
    '../_base_/schedules/imagenet_bs4096_AdamW.py',
    '../_base_/default_runtime.py'
]

model = dict(
    train_cfg=dict(
        augments=dict(type='BatchMixup', alpha=0.2, num_classes=1000,
                      prob=1.)))
