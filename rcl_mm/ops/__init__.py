# Copyright (c) rcl_mm contributors. All rights reserved.
"""Operators: pure PyTorch, CPU and CUDA."""
from .car_align import (CARAlign, bmn_grid_segments, car_align,
                        car_align_sampling, car_align_with_sampling)
from .sg_align import (SGAlign, gather_neighbours, knn_context, knn_graph,
                       sg_align_sampling, sg_align_with_sampling)

__all__ = [
    'CARAlign', 'car_align', 'car_align_sampling', 'car_align_with_sampling',
    'bmn_grid_segments', 'SGAlign', 'knn_graph', 'gather_neighbours',
    'knn_context', 'sg_align_sampling', 'sg_align_with_sampling'
]
