# the older name of VAN-b2
_base_ = ['./van_b2.py']
