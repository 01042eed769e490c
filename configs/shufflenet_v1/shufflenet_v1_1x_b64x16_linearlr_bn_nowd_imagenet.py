# the name this config had before mmcls 0.18
_base_ = 'shufflenet-v1-1x_16xb64_in1k.py'
