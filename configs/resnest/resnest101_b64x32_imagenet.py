# the name this config had before mmcls 0.18
_base_ = 'resnest101_32xb64_in1k.py'
