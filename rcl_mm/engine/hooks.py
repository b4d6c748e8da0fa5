# Copyright (c) rcl_mm contributors. All rights reserved.
"""Hooks of rcl_mm."""
import random
from typing import Optional

import numpy as np
import torch
from mmengine.hooks import Hook

from rcl_mm.registry import HOOKS


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
