# Copyright (c) rcl_mm contributors. All rights reserved.
"""Target assignment and proposal post-processing for BMN and RCL."""
from .bmn_targets import (bmn_targets, pad_segments, segment_iou,
                          wide_float_dtype)
from .post_processing import (TorchSoftNMSPicks, TritonSoftNMSPicks,
                              anchor_candidates, bmn_candidates,
                              bmn_post_process, bmn_video_duration,
                              cls_reg_scores, gtad_post_process,
                              gtad_soft_nms, gtad_window_proposals,
                              merge_window_proposals,
                              post_process_proposals, soft_nms,
                              window_proposals)
from .rcl_sampling import (ScaleInvariantAnchors, ScaleInvariantSampler,
                           continuous_iou_targets, nearest_anchor,
                           scale_invariant_anchors, scale_invariant_samples)

__all__ = [
    'bmn_targets', 'pad_segments', 'segment_iou',
    'wide_float_dtype', 'bmn_candidates', 'bmn_post_process',
    'bmn_video_duration', 'post_process_proposals', 'soft_nms',
    'window_proposals', 'merge_window_proposals', 'gtad_soft_nms',
    'gtad_post_process', 'gtad_window_proposals', 'anchor_candidates',
    'cls_reg_scores',
    'continuous_iou_targets', 'nearest_anchor',
    'scale_invariant_anchors', 'scale_invariant_samples',
    'ScaleInvariantAnchors', 'ScaleInvariantSampler', 'TorchSoftNMSPicks',
    'TritonSoftNMSPicks'
]
