# Copyright (c) rcl_mm contributors. All rights reserved.
from .hooks import EpochSeedHook, ReuseFreedMemoryHook, StackFixesHook

__all__ = ['EpochSeedHook', 'ReuseFreedMemoryHook', 'StackFixesHook']
