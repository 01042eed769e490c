# checkpoint saving
checkpoint_config = dict(interval=1)
# logging: the progress bar / text lines, and log.jsonl (always written)
log_config = dict(
    interval=100,
    hooks=[
        dict(type='TextLoggerHook'),
        # dict(type='TensorboardLoggerHook')
    ])
dist_params = dict(backend='nccl')
log_level = 'INFO'
load_from = None
resume_from = None
workflow = [('train', 1)]
