# Copyright (c) rcl_mm contributors. All rights reserved.
from .hooks import EpochSeedHook

__all__ = ['EpochSeedHook']
