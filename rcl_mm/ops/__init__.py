# Copyright (c) rcl_mm contributors. All rights reserved.
"""Operators: pure PyTorch, CPU and CUDA (CARAlign optionally Triton)."""
from .car_align import (IMPLS as CAR_ALIGN_IMPLS, CARAlign,
                        bmn_grid_segments, car_align, car_align_sampling,
                        car_align_with_sampling, count_taps,
                        dense_sampling_matrix,
                        resolve_impl as resolve_car_align_impl)
from .pointwise import (average_pool_matrix, pointwise_conv,
                        project_and_pool)
from .sg_align import (SGAlign, align1d_sampling, gather_neighbours,
                       knn_context, knn_graph, sg_align_regions,
                       sg_align_sampling, sg_align_with_sampling)

__all__ = [
    'CARAlign', 'CAR_ALIGN_IMPLS', 'car_align', 'car_align_sampling',
    'car_align_with_sampling', 'bmn_grid_segments', 'count_taps',
    'pointwise_conv',
    'dense_sampling_matrix', 'resolve_car_align_impl',
    'project_and_pool', 'average_pool_matrix',
    'SGAlign', 'knn_graph', 'gather_neighbours', 'knn_context',
    'sg_align_sampling', 'sg_align_with_sampling', 'sg_align_regions',
    'align1d_sampling'
]
