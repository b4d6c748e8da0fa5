# Copyright (c) rcl_mm contributors. All rights reserved.
"""Gaussian Soft-NMS's pick loop as one Triton kernel per batch.

Imported only by :func:`rcl_mm.models.task_modules.soft_nms` with
``impl='triton'``. The PyTorch loop launches about 18 small kernels per
pick (~1,800 for ANet's 101 picks), which bounds it by launch latency on
a GPU (~20 ms per video on an H100). Here one program holds one video's
candidates (up to a few thousand, in registers) and makes all its picks
in a loop, so a batch of videos is one launch.

The arithmetic is :func:`soft_nms`'s, in the same order and in float64:
IoUs and thresholds agree exactly, so the same candidates are picked (the
first maximum on ties, as ``torch.argmax``); only the decay factor is
``exp`` instead of ``e ** x``, < 1e-15 relative apart. Removed candidates
are tracked with a mask rather than the PyTorch loop's NaN starts (Triton's
minimum and maximum do not propagate NaN by default).

CUDA tensors; CPU tensors in Triton's interpreter with
``TRITON_INTERPRET=1`` set before Triton is imported (the tests).
"""
from typing import Tuple

import torch
import triton
import triton.language as tl
from torch import Tensor

from rcl_mm.ops.triton_utils import check_device


@triton.jit
def _soft_nms_picks(score_ptr, start_ptr, end_ptr, valid_ptr,
                    out_score_ptr, out_index_ptr, num_k, num_picks, low,
                    slope, neg_alpha, BLOCK_K: tl.constexpr):
    video = tl.program_id(0).to(tl.int64)
    offs = tl.arange(0, BLOCK_K)
    in_row = offs < num_k
    row = video * num_k
    cur = tl.load(score_ptr + row + offs, mask=in_row, other=float('-inf'))
    seg_start = tl.load(start_ptr + row + offs, mask=in_row, other=0.0)
    seg_end = tl.load(end_ptr + row + offs, mask=in_row, other=0.0)
    live = tl.load(valid_ptr + row + offs, mask=in_row, other=0) != 0
    width = seg_end - seg_start
    thresh = low + slope * width
    for i in range(0, num_picks):
        best = tl.max(cur, axis=0)
        pick = tl.argmax(cur, axis=0, tie_break_left=True)
        tl.store(out_score_ptr + video * num_picks + i, best)
        tl.store(out_index_ptr + video * num_picks + i, pick)
        chosen = offs == pick
        # The pick's own values: one non-zero term per sum, so exact.
        p_start = tl.sum(tl.where(chosen, seg_start, 0.0), axis=0)
        p_end = tl.sum(tl.where(chosen, seg_end, 0.0), axis=0)
        p_width = tl.sum(tl.where(chosen, width, 0.0), axis=0)
        p_thresh = tl.sum(tl.where(chosen, thresh, 0.0), axis=0)
        inter = tl.minimum(seg_end, p_end) - tl.maximum(seg_start, p_start)
        inter = tl.where(inter > 0, inter, 0.0)
        union = p_width - inter + seg_end - seg_start
        iou = inter / union
        decay = live & (iou > p_thresh)
        factor = tl.exp(iou * iou / neg_alpha)
        cur = tl.where(decay, cur * factor, cur)
        cur = tl.where(chosen, float('-inf'), cur)
        live = live & (offs != pick)


def soft_nms_picks(scores: Tensor, seg_start: Tensor, seg_end: Tensor,
                   valid: Tensor, alpha: float, low_threshold: float,
                   high_threshold: float,
                   num_picks: int) -> Tuple[Tensor, Tensor]:
    """The picks of :func:`soft_nms` from its sorted candidates.

    Args:
        scores (Tensor): (B, K) float64 scores, -inf on padding, in
            :func:`soft_nms`'s initial order.
        seg_start (Tensor): (B, K) float64 starts, same order.
        seg_end (Tensor): (B, K) float64 ends.
        valid (Tensor): (B, K) bool, False on padding.
        alpha (float): Gaussian decay parameter.
        low_threshold (float): IoU threshold of a zero-width pick.
        high_threshold (float): IoU threshold of a unit-width pick.
        num_picks (int): Picks per video.

    Returns:
        tuple[Tensor, Tensor]: ``pick_scores`` (B, num_picks) float64, the
        score of each pick when it was picked, and ``pick_index``
        (B, num_picks) long, its position among the K candidates.
    """
    check_device(scores, "soft_nms impl='triton'", "impl='torch'")
    batch, num_k = scores.shape
    pick_scores = scores.new_empty(batch, num_picks)
    pick_index = torch.empty(batch, num_picks, dtype=torch.int32,
                             device=scores.device)
    block = triton.next_power_of_2(max(num_k, 16))
    _soft_nms_picks[(batch, )](
        scores.contiguous(), seg_start.contiguous(), seg_end.contiguous(),
        valid.to(torch.int8).contiguous(), pick_scores, pick_index, num_k,
        num_picks, float(low_threshold),
        float(high_threshold - low_threshold), -float(alpha),
        BLOCK_K=block, num_warps=4 if block <= 2048 else 8)
    return pick_scores, pick_index.long()
