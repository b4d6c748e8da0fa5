# Copyright (c) rcl_mm contributors. All rights reserved.
from .rrm_refiner import (ConvGRU, MapFeatureEncoder, RRMRefiner,
                          SmallUpdateBlock)

__all__ = ['ConvGRU', 'MapFeatureEncoder', 'RRMRefiner', 'SmallUpdateBlock']
