# Copyright (c) rcl_mm contributors. All rights reserved.
"""Temporal IoU, with the official ActivityNet arithmetic."""
import numpy as np


def segment_iou(segments: np.ndarray, gt_segments: np.ndarray) -> np.ndarray:
    """Temporal IoU of every segment with every ground-truth segment.

    The operations and their order are those of the official ActivityNet
    ``segment_iou`` (union = gt length + segment length - intersection), so
    the values are bit-identical to it, including NaN for two zero-length
    segments (0 / 0), which the official matching treats as a hit.

    Args:
        segments (np.ndarray): N x 2 ``[start, end]`` (seconds).
        gt_segments (np.ndarray): M x 2 ``[start, end]``.

    Returns:
        np.ndarray: N x M float64 IoU.
    """
    segments = np.asarray(segments, dtype=np.float64).reshape(-1, 2)
    gt_segments = np.asarray(gt_segments, dtype=np.float64).reshape(-1, 2)
    return paired_segment_iou(segments[:, None, 0], segments[:, None, 1],
                              gt_segments[None, :, 0], gt_segments[None, :,
                                                                    1])


def paired_segment_iou(start: np.ndarray, end: np.ndarray,
                       gt_start: np.ndarray,
                       gt_end: np.ndarray) -> np.ndarray:
    """IoU of segments with ground truth, element-wise (broadcasting).

    Args:
        start, end (np.ndarray): Segment bounds, any broadcastable shape.
        gt_start, gt_end (np.ndarray): Ground-truth bounds.

    Returns:
        np.ndarray: The broadcast shape, float64.
    """
    inter = (np.minimum(end, gt_end) - np.maximum(start, gt_start)).clip(0)
    union = (gt_end - gt_start) + (end - start) - inter
    with np.errstate(divide='ignore', invalid='ignore'):
        return inter / union
