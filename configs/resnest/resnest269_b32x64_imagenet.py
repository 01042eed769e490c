# the name this config had before mmcls 0.18
_base_ = 'resnest269_64xb32_in1k.py'
