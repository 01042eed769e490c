# the older name of VAN-b0
_base_ = ['./van_b0.py']
