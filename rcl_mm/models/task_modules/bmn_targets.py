# Copyright (c) rcl_mm contributors. All rights reserved.
"""BMN training targets, vectorised and batched over videos.

The arithmetic reproduces mmaction2's ``BMN.generate_labels`` operation by
operation (same dtypes, same evaluation order), so the targets agree with it
to float32 rounding even at ``temporal_dim = 100``, where the anchors of the
boundary targets are only ``2 / T`` long and any change in the order of the
subtractions would be amplified by ``T / 2``.
"""
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence


def wide_float_dtype(device: torch.device) -> torch.dtype:
    """The widest float dtype the device computes in.

    mmaction2 does its proposal arithmetic in float64 numpy; we follow it
    everywhere float64 exists (CPU, CUDA) and fall back to float32 on MPS,
    which has no float64.

    Args:
        device (torch.device): Device of the tensors.

    Returns:
        torch.dtype: ``torch.float64``, or ``torch.float32`` on MPS.
    """
    return torch.float32 if device.type == 'mps' else torch.float64


def _intersection(segments_a: Tensor, segments_b: Tensor) -> Tensor:
    """Broadcast length of the intersection of two sets of segments.

    Args:
        segments_a (Tensor): (..., 2) start and end.
        segments_b (Tensor): (..., 2) start and end, broadcastable with
            ``segments_a``.

    Returns:
        Tensor: (...) non-negative intersection length.
    """
    inter = (
        torch.minimum(segments_a[..., 1], segments_b[..., 1]) -
        torch.maximum(segments_a[..., 0], segments_b[..., 0]))
    return inter.clamp_(min=0)


def segment_iou(segments_a: Tensor, segments_b: Tensor) -> Tensor:
    """Temporal IoU of two broadcastable sets of segments.

    Same formula and evaluation order as mmaction2's ``temporal_iou`` with
    ``segments_a`` as the proposals and ``segments_b`` as the ground truth:
    ``inter / (len_a - inter + end_b - start_b)``.

    Args:
        segments_a (Tensor): (..., 2) start and end.
        segments_b (Tensor): (..., 2) start and end, broadcastable with
            ``segments_a``.

    Returns:
        Tensor: (...) IoU in [0, 1] (NaN where both segments are empty).
    """
    inter = _intersection(segments_a, segments_b)
    len_a = segments_a[..., 1] - segments_a[..., 0]
    # Left to right like numpy evaluates it, so that results are bitwise
    # equal to mmaction2 (soft-NMS compares IoUs against thresholds that
    # grid-aligned segments can hit exactly).
    union = len_a - inter + segments_b[..., 1] - segments_b[..., 0]
    return inter / union


def pad_segments(segments: Sequence[Tensor]) -> Tuple[Tensor, Tensor]:
    """Stack per-video ground-truth segments into a padded batch.

    Args:
        segments (Sequence[Tensor]): B tensors of shape (G_i, 2), all on one
            device with one dtype.

    Returns:
        tuple[Tensor, Tensor]: ``(gt_segments, gt_valid)`` of shapes
        (B, G, 2) and (B, G) with ``G = max(G_i)`` (0 if all are empty);
        padded rows are zeros and ``False`` in ``gt_valid``.
    """
    if len(segments) == 0:
        return torch.zeros(0, 0, 2), torch.zeros(0, 0, dtype=torch.bool)
    device = segments[0].device
    segments = [s.reshape(-1, 2) for s in segments]
    padded = pad_sequence(segments, batch_first=True)
    lengths = torch.tensor([len(s) for s in segments])
    if device.type == 'cuda':
        # From pinned memory the copy is asynchronous: the host does not
        # wait for the GPU (a pageable copy would).
        lengths = lengths.pin_memory().to(device, non_blocking=True)
    else:
        lengths = lengths.to(device)
    valid = torch.arange(padded.shape[1], device=device) < lengths[:, None]
    return padded, valid


def bmn_targets(
        gt_segments: Tensor,
        gt_valid: Tensor,
        temporal_dim: int,
        duration_dim: Optional[int] = None) -> Tuple[Tensor, Tensor, Tensor]:
    """BMN confidence-map and boundary targets for a batch of videos.

    ``iou_map[b, d, t]`` is the largest IoU of the proposal
    ``[t / T, (t + d + 1) / T]`` with a valid ground truth of video ``b``
    (mmaction2's ``match_map`` layout: row = duration index, column = start
    index). ``start[b, t]`` (``end[b, t]``) is the largest intersection over
    anchor length of the anchor ``[(t - 0.5) / T, (t + 1.5) / T]`` with a
    window of width ``3 / T`` centred on a ground-truth start (end).
    Videos without a valid ground truth get all-zero targets.

    Args:
        gt_segments (Tensor): (B, G, 2) normalised [0, 1] start and end,
            padded; float.
        gt_valid (Tensor): (B, G) bool, False on padding.
        temporal_dim (int): T, the number of temporal locations.
        duration_dim (int, optional): D, the number of proposal durations.
            Defaults to ``temporal_dim`` (mmaction2's BMN).

    Returns:
        tuple[Tensor, Tensor, Tensor]: ``(iou_map, start, end)`` of shapes
        (B, D, T), (B, T), (B, T) in the dtype of ``gt_segments``.
    """
    num_t = temporal_dim
    num_d = temporal_dim if duration_dim is None else duration_dim
    batch, num_gts = gt_valid.shape
    device, dtype = gt_segments.device, gt_segments.dtype
    if num_gts == 0:
        return (gt_segments.new_zeros(batch, num_d, num_t),
                gt_segments.new_zeros(batch, num_t),
                gt_segments.new_zeros(batch, num_t))
    wide = wide_float_dtype(device)
    gap = 1. / num_t
    t_idx = torch.arange(num_t, device=device, dtype=wide)
    valid = gt_valid.to(torch.bool)

    # Confidence map: mmaction2 computes it in float64 (the float32 gts get
    # promoted) and casts the result to float32.
    tmin = gap * t_idx
    tmax = tmin + gap * torch.arange(
        1, num_d + 1, device=device, dtype=wide)[:, None]
    proposals = torch.stack((tmin.expand(num_d, num_t), tmax), dim=-1)
    gts = gt_segments.to(wide)[:, :, None, None, :]
    iou = segment_iou(proposals, gts)  # B x G x D x T
    iou = torch.where(valid[:, :, None, None], iou, iou.new_zeros(()))
    iou_map = iou.amax(dim=1).to(dtype)

    # Boundary targets: mmaction2 builds the gt windows and the
    # intersections in the gt dtype (float32) and divides by the anchor
    # length in float64; the anchor length must stay float64 since float32
    # anchor ends would cancel badly over a 2 / T wide anchor.
    anchor_min = gap * (t_idx - 0.5)
    anchor_max = gap * (t_idx + 1.5)
    anchor_len = anchor_max - anchor_min
    anchors = torch.stack((anchor_min, anchor_max), dim=-1).to(dtype)
    half_pad = 3 * (1. / num_t) / 2

    def boundary_target(points: Tensor) -> Tensor:
        """(B, G) boundary times -> (B, T) max IoA over valid gts."""
        windows = torch.stack((points - half_pad, points + half_pad), -1)
        inter = _intersection(anchors, windows[:, :, None, :])  # B x G x T
        ioa = inter.to(wide) / anchor_len
        ioa = torch.where(valid[:, :, None], ioa, ioa.new_zeros(()))
        return ioa.amax(dim=1).to(dtype)

    start = boundary_target(gt_segments[..., 0])
    end = boundary_target(gt_segments[..., 1])
    return iou_map, start, end
