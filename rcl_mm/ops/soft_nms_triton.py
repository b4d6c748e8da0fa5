# Copyright (c) rcl_mm contributors. All rights reserved.
"""Gaussian Soft-NMS's pick loop as one Triton kernel per batch.

Imported only by :func:`rcl_mm.models.task_modules.soft_nms` with
``impl='triton'``. The PyTorch loop launches about 18 small kernels per
pick (~1,800 for ANet's 101 picks), which bounds it by launch latency on
a GPU (docs/benchmark.md measures both). Here one program holds one video's
candidates (up to a few thousand, in registers) and makes all its picks
in a loop, so a batch of videos is one launch.

The arithmetic is :func:`soft_nms`'s, in the same order and in float64
(the thresholds come from the caller; nothing left in the kernel is an
``a * b + c`` that the compiler could fuse): IoUs and thresholds agree
exactly, so the same candidates are picked (the first maximum on ties, as
``torch.argmax``); only the decay factor is ``exp`` instead of ``e ** x``,
< 1e-15 relative apart. Removed candidates
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
def _soft_nms_picks(score_ptr, start_ptr, end_ptr, width_ptr, thresh_ptr,
                    valid_ptr, out_score_ptr, out_index_ptr, num_k,
                    num_picks, neg_alpha_ptr, BLOCK_K: tl.constexpr):
    video = tl.program_id(0).to(tl.int64)
    # -alpha from memory in the scores' dtype: a Python float argument
    # would reach the kernel as a float32 scalar, 1e-8 off in float64.
    neg_alpha = tl.load(neg_alpha_ptr)
    offs = tl.arange(0, BLOCK_K)
    in_row = offs < num_k
    row = video * num_k
    cur = tl.load(score_ptr + row + offs, mask=in_row, other=float('-inf'))
    seg_start = tl.load(start_ptr + row + offs, mask=in_row, other=0.0)
    seg_end = tl.load(end_ptr + row + offs, mask=in_row, other=0.0)
    width = tl.load(width_ptr + row + offs, mask=in_row, other=0.0)
    thresh = tl.load(thresh_ptr + row + offs, mask=in_row, other=0.0)
    live = tl.load(valid_ptr + row + offs, mask=in_row, other=0) != 0
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


def launch_options(num_k: int) -> dict:
    """Block size and warps of the kernel for ``num_k`` candidates.

    Up to 4,096 candidates the kernel keeps its state in registers on an
    H100 (sm_90; checked by compiling with ptxas in the tests); more
    warps for more candidates keep the registers per thread in bounds.
    """
    block = triton.next_power_of_2(max(num_k, 16))
    num_warps = 4 if block <= 1024 else 8 if block <= 4096 else 16
    return dict(BLOCK_K=block, num_warps=num_warps)


def soft_nms_picks(scores: Tensor, seg_start: Tensor, seg_end: Tensor,
                   width: Tensor, thresh: Tensor, valid: Tensor,
                   alpha: float, num_picks: int) -> Tuple[Tensor, Tensor]:
    """The picks of :func:`soft_nms` from its sorted candidates.

    Args:
        scores (Tensor): (B, K) float64 scores, -inf on padding, in
            :func:`soft_nms`'s initial order.
        seg_start (Tensor): (B, K) float64 starts, same order.
        seg_end (Tensor): (B, K) float64 ends.
        width (Tensor): (B, K) ``seg_end - seg_start``.
        thresh (Tensor): (B, K) each candidate's IoU threshold as a pick.
            Computed by the caller, so that no fused multiply-add in the
            kernel can round it differently from the PyTorch loop.
        valid (Tensor): (B, K) bool, False on padding.
        alpha (float): Gaussian decay parameter.
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
    if batch == 0:  # no videos: nothing to launch
        return pick_scores, pick_index.long()
    _soft_nms_picks[(batch, )](
        scores.contiguous(), seg_start.contiguous(), seg_end.contiguous(),
        width.contiguous(), thresh.contiguous(),
        valid.to(torch.int8).contiguous(), pick_scores, pick_index, num_k,
        num_picks, torch.full((1, ), -float(alpha), dtype=scores.dtype,
                              device=scores.device),
        **launch_options(num_k))
    return pick_scores, pick_index.long()
