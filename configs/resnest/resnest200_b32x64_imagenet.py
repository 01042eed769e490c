# the name this config had before mmcls 0.18
_base_ = 'resnest200_64xb32_in1k.py'
