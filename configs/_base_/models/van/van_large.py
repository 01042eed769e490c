# the older name of VAN-b3
_base_ = ['./van_b3.py']
