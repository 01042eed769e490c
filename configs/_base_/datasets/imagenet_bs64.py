# ImageNet at 224x224, 64 images per GPU
_base_ = ['./imagenet_bs32.py']

data = dict(samples_per_gpu=64)
