# Copyright (c) rcl_mm contributors. All rights reserved.
"""Operators: pure PyTorch, CPU and CUDA."""
from .car_align import (CARAlign, bmn_grid_segments, car_align,
                        car_align_sampling, car_align_with_sampling)

__all__ = [
    'CARAlign', 'car_align', 'car_align_sampling', 'car_align_with_sampling',
    'bmn_grid_segments'
]
