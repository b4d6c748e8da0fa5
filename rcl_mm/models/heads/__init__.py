# Copyright (c) rcl_mm contributors. All rights reserved.
from .pem_head import PEMHead
from .rcl_head import RCLHead
from .rrm_refiner import (ConvGRU, MapFeatureEncoder, RRMRefiner,
                          SmallUpdateBlock)

__all__ = [
    'PEMHead', 'RCLHead', 'ConvGRU', 'MapFeatureEncoder', 'RRMRefiner',
    'SmallUpdateBlock'
]
