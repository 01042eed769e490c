_base_ = ['./van-b1_8xb128_in1k.py']

_deprecation_ = dict(
    expected='van-b1_8xb128_in1k.py',
    reference='https://github.com/open-mmlab/mmclassification/pull/1017',
)
