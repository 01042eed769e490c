_base_ = ['./van-b3_8xb128_in1k.py']

_deprecation_ = dict(
    expected='van-b3_8xb128_in1k.p',
    reference='https://github.com/open-mmlab/mmclassification/pull/1017',
)
