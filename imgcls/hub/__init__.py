"""Published models and their weights: the model index, downloads, and weight sources.

Layering (each module imports only what is listed before it): ``download`` (HTTP into torch's hub cache)
and ``torchvision_urls`` → ``sources`` (a weight reference → a checkpoint dict; used by the model layers
for ``init_cfg`` Pretrained) → ``index`` (the published mmcls models) → ``api`` (``get_model``, which builds
models). This package's ``__init__`` imports none of them, so model code can use ``sources`` without a cycle.
"""
