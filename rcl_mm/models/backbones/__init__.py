# Copyright (c) rcl_mm contributors. All rights reserved.
from .bmn import BMNBackbone, grid_anchors

__all__ = ['BMNBackbone', 'grid_anchors']
