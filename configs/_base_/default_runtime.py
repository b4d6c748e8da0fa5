_base_ = 'mmaction::_base_/default_runtime.py'

default_scope = 'rcl_mm'
custom_imports = dict(imports=['rcl_mm'], allow_failed_imports=False)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10, ignore_last=False),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3,
                    save_best='auto'))
# gloo so the same configs run on machines without GPUs; tools/train.py
# switches to nccl when CUDA is available.
env_cfg = dict(dist_cfg=dict(backend='nccl'))
