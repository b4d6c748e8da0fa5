# Copyright (c) rcl_mm contributors. All rights reserved.
"""Target assignment and proposal post-processing for BMN and RCL."""
from .bmn_targets import (bmn_targets, pad_segments, segment_ioa, segment_iou,
                          wide_float_dtype)
from .post_processing import (bmn_candidates, bmn_post_process,
                              bmn_video_duration, post_process_proposals,
                              soft_nms)

__all__ = [
    'bmn_targets', 'pad_segments', 'segment_ioa', 'segment_iou',
    'wide_float_dtype', 'bmn_candidates', 'bmn_post_process',
    'bmn_video_duration', 'post_process_proposals', 'soft_nms'
]
