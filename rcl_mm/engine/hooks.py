# Copyright (c) rcl_mm contributors. All rights reserved.
"""Hooks of rcl_mm."""
import random
from typing import Optional

import numpy as np
import torch
from mmengine.hooks import Hook

from rcl_mm.registry import HOOKS
from rcl_mm.utils.compat import apply_stack_fixes
from rcl_mm.utils.memory import reuse_freed_memory


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Reseed Python, numpy and torch at the start of every training epoch.

    The random state at the start of epoch ``e`` becomes a function of the
    seed and ``e`` alone, not of everything that ran before (validation,
    data-loader iterators, a crash). So a run resumed from the checkpoint of
    epoch ``e - 1`` draws exactly what the uninterrupted run drew from epoch
    ``e`` on (BMN's loss samples anchors at random), and ends with the same
    weights and metrics. mmengine saves no random state in checkpoints.

    Args:
        seed (int, optional): Base seed; None takes the Runner's seed
            (``randomness.seed``, or the one mmengine drew and stored in the
            checkpoint's meta). Defaults to None.
    """

    priority = 'VERY_HIGH'

    def __init__(self, seed: Optional[int] = None) -> None:
        self.seed = seed

    def before_train_epoch(self, runner) -> None:
        """Seed every generator from (seed, epoch)."""
        base = self.seed if self.seed is not None else runner.seed
        seed = (int(base) + 1_000_003 * runner.epoch) % 2**32
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)  # all devices


@HOOKS.register_module()
class ReuseFreedMemoryHook(Hook):
    """Keep freed host memory for reuse when the model trains on the CPU.

    Calls :func:`rcl_mm.utils.reuse_freed_memory` before the run if the
    model's parameters are on the CPU (on a GPU the host allocates little
    and the hook does nothing): large tensors are then not page-faulted in
    afresh at every step: faster training steps for more peak memory
    (measured in ``docs/benchmark.md``). Remove it from ``custom_hooks``
    to keep glibc's defaults.
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        """Change the allocator if the model is on the CPU."""
        param = next(runner.model.parameters(), None)
        if param is None or param.device.type != 'cpu':
            return
        applied = reuse_freed_memory()
        runner.logger.info(
            'Freed host memory is kept for reuse (CPU training).'
            if applied else 'ReuseFreedMemoryHook: not a glibc process, '
            'the allocator is left as it is.')


@HOOKS.register_module()
class StackFixesHook(Hook):
    """Apply :func:`rcl_mm.utils.apply_stack_fixes` before the run.

    Makes mmengine's local writes (checkpoints, ``last_checkpoint``, dumped
    results) atomic and lets torch >= 2.6 (``weights_only=True``) load
    mmengine checkpoints (``load_from``, ``resume``). Both change the whole
    process, so ``import rcl_mm`` does not apply them; a config opts in
    with ``custom_hooks = [dict(type='StackFixesHook')]`` (our configs do,
    through ``configs/_base_/default_runtime.py``). ``before_run`` comes
    before the Runner loads or writes any checkpoint.
    """

    priority = 'HIGHEST'

    def before_run(self, runner) -> None:
        """Apply the fixes (safe to repeat)."""
        apply_stack_fixes()
