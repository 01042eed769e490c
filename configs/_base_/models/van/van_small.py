# the older name of VAN-b1
_base_ = ['./van_b1.py']
