_base_ = 'mmaction::_base_/default_runtime.py'

default_scope = 'rcl_mm'
custom_imports = dict(imports=['rcl_mm'], allow_failed_imports=False)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10, ignore_last=False),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3,
                    save_best='auto'))
# Each epoch starts from a random state fixed by (seed, epoch), so a run
# resumed after an interruption ends exactly as the uninterrupted one.
# On the CPU, freed tensors' memory is kept for the next step instead of
# being returned to the system and faulted in again (steps 12 to 36%
# faster on two cores, for 12 to 29% more peak memory;
# rcl_mm.utils.reuse_freed_memory). Nothing on a GPU.
# StackFixesHook: atomic checkpoint / result writes and loading mmengine
# checkpoints under torch >= 2.6 (rcl_mm.utils.apply_stack_fixes); not
# applied by `import rcl_mm`, as they change the whole process.
custom_hooks = [
    dict(type='StackFixesHook'),
    dict(type='EpochSeedHook'),
    dict(type='ReuseFreedMemoryHook')
]
randomness = dict(seed=0)
# nccl on GPUs; on machines without GPUs, tools/train.py and tools/test.py
# start a gloo process group instead.
env_cfg = dict(dist_cfg=dict(backend='nccl'))
