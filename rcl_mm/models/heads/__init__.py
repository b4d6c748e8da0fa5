# Copyright (c) rcl_mm contributors. All rights reserved.
from .pem_head import PEMHead
from .rcl_head import RCLHead

__all__ = ['PEMHead', 'RCLHead']
