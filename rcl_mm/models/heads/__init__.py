# Copyright (c) rcl_mm contributors. All rights reserved.
from .pem_head import PEMHead

__all__ = ['PEMHead']
