# Copyright (c) rcl_mm contributors. All rights reserved.
from .bmn import BMNBackbone
from .gtad import GTADBackbone

__all__ = ['BMNBackbone', 'GTADBackbone']
