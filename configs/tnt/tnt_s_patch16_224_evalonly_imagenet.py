# The old name of tnt-s-p16_16xb64_in1k.py, kept so configs that name it still work.
_base_ = 'tnt-s-p16_16xb64_in1k.py'

_deprecation_ = dict(
    expected='tnt-s-p16_16xb64_in1k.py',
    reference='https://github.com/open-mmlab/mmclassification/pull/508',
)
