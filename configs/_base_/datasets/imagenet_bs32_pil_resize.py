# ImageNet at 224x224 with PIL-style bicubic resizing (as imagenet_bs64_pil_resize.py), 32 images per GPU.
_base_ = ['./imagenet_bs64_pil_resize.py']

data = dict(samples_per_gpu=32)
