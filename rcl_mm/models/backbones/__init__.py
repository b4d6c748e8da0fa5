# Copyright (c) rcl_mm contributors. All rights reserved.
from .bmn import BMNBackbone

__all__ = ['BMNBackbone']
