# Copyright (c) rcl_mm contributors. All rights reserved.
from .hooks import EpochSeedHook, ReuseFreedMemoryHook

__all__ = ['EpochSeedHook', 'ReuseFreedMemoryHook']
