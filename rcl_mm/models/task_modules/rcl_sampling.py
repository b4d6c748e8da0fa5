# Copyright (c) rcl_mm contributors. All rights reserved.
"""RCL's continuous segments: nearest grid anchors, scale-invariant training
samples with exact tIoU targets, and the scale-invariant inference anchors.

Coordinates. A continuous segment is ``(start, end)`` in snippet-boundary
units: ``0`` is the start of the window, ``T`` its end, so the normalised
segment is ``(start / T, end / T)``. The BMN grid cell ``(d, t)`` is the
segment ``[t, t + d + 1]`` (normalised ``[t / T, (t + d + 1) / T]``, exactly
the proposal that :func:`bmn_targets` scores), i.e. start ``t`` and length
``d + 1``. Hence the nearest cell of ``(s, e)`` is
``t* = clamp(round(s), 0, T - 1)``, ``d* = clamp(round(e - s - 1), 0,
D - 1)``, and its two offsets ``(s - t*, (e - s - 1) - d*)`` lie in
``[-0.5, 0.5]`` (when not clamped); they are scaled by 2 to ``[-1, 1]``
(clamped there) and are exactly 0 on grid cells.
"""
import math
from typing import Optional, Tuple

import torch
from torch import Tensor

from rcl_mm.registry import TASK_UTILS

from .bmn_targets import segment_iou, wide_float_dtype


def nearest_anchor(segments: Tensor, temporal_dim: int,
                   duration_dim: int) -> Tuple[Tensor, Tensor, Tensor]:
    """Nearest grid cell and coordinate offsets of continuous segments.

    Args:
        segments (Tensor): (..., K, 2) start and end in snippet-boundary
            units.
        temporal_dim (int): T.
        duration_dim (int): D.

    Returns:
        tuple[Tensor, Tensor, Tensor]: ``d_idx`` and ``t_idx`` (..., K)
        long, and ``coords`` (..., K, 2): the start and length offsets to
        the cell, times 2, clamped to [-1, 1], in the segments' dtype.
    """
    start = segments[..., 0]
    length = segments[..., 1] - start
    t_idx = torch.round(start).clamp(0, temporal_dim - 1)
    d_idx = torch.round(length - 1).clamp(0, duration_dim - 1)
    coords = torch.stack((start - t_idx, (length - 1) - d_idx), dim=-1)
    coords = (2 * coords).clamp(-1, 1)
    return d_idx.long(), t_idx.long(), coords


def continuous_iou_targets(segments: Tensor, gt_segments: Tensor,
                           gt_valid: Tensor, temporal_dim: int) -> Tensor:
    """Exact max tIoU of continuous segments with the ground truth.

    Computed at the segments' own real coordinates (no snapping to the
    grid), in float64 (float32 on MPS).

    Args:
        segments (Tensor): (B, K, 2) in snippet-boundary units.
        gt_segments (Tensor): (B, G, 2) normalised to [0, 1], padded.
        gt_valid (Tensor): (B, G) bool, False on padding.
        temporal_dim (int): T, to normalise the segments.

    Returns:
        Tensor: (B, K) max tIoU in [0, 1] in the dtype of ``segments``;
        0 for videos without ground truth.
    """
    batch, num_k = segments.shape[:2]
    if gt_segments.shape[1] == 0:
        return segments.new_zeros(batch, num_k)
    wide = wide_float_dtype(segments.device)
    segs = segments.to(wide)[:, :, None, :] / temporal_dim
    iou = segment_iou(segs, gt_segments.to(wide)[:, None, :, :])  # B K G
    iou = torch.where(gt_valid[:, None, :], iou.nan_to_num(0.),
                      iou.new_zeros(()))
    return iou.amax(dim=2).to(segments.dtype)


def scale_invariant_samples(gt_segments: Tensor,
                            gt_valid: Tensor,
                            temporal_dim: int,
                            duration_dim: int,
                            num_random: int = 256,
                            num_jitter: int = 8,
                            min_duration: float = 1.0,
                            jitter_ratio: float = 0.25,
                            generator: Optional[torch.Generator] = None
                            ) -> Tuple[Tensor, Tensor]:
    """Scale-invariant training segments for a batch of videos.

    ``num_random`` segments per video with durations log-uniform in
    ``[min_duration, min(D, T)]`` and starts uniform over ``[0, T - dur]``,
    so every octave of duration gets the same number of samples; plus
    ``num_jitter`` jittered copies of every ground-truth segment (centre
    moved by up to ``jitter_ratio`` of its length, log-length changed by up
    to ``log(1 + jitter_ratio)``, then clipped to the window), so that every
    action has positives. All in snippet-boundary units.

    Args:
        gt_segments (Tensor): (B, G, 2) normalised ground truth, padded.
        gt_valid (Tensor): (B, G) bool.
        temporal_dim (int): T.
        duration_dim (int): D, the longest duration sampled (with T).
        num_random (int): Random segments per video. Defaults to 256.
        num_jitter (int): Copies per ground truth. Defaults to 8.
        min_duration (float): Shortest duration, in snippets. Defaults
            to 1.
        jitter_ratio (float): Jitter amplitude. Defaults to 0.25.
        generator (torch.Generator, optional): Random source, drawn on its
            own device. Defaults to the default generator of the device of
            ``gt_segments``.

    Returns:
        tuple[Tensor, Tensor]: ``segments`` (B, K, 2) float32 with
        ``K = num_random + num_jitter * G`` and ``valid`` (B, K) bool
        (False for the copies of padded ground truth).
    """
    batch, num_gts = gt_valid.shape
    device = gt_segments.device
    max_duration = float(min(duration_dim, temporal_dim))
    if not 0 < min_duration <= max_duration:
        raise ValueError(f'min_duration must be in (0, {max_duration}], '
                         f'got {min_duration}')

    def rand(*shape):
        # Drawn where the segments live: on a GPU no copy from the host
        # (which would stop it) and a CUDA graph can capture the draws.
        source = device if generator is None else generator.device
        return torch.rand(*shape, generator=generator,
                          device=source).to(device)

    log_lo, log_hi = math.log(min_duration), math.log(max_duration)
    dur = torch.exp(log_lo + (log_hi - log_lo) * rand(batch, num_random))
    start = (temporal_dim - dur) * rand(batch, num_random)
    random_segs = torch.stack((start, start + dur), dim=-1)

    gts = gt_segments.float() * temporal_dim  # B x G x 2
    centre = gts.mean(-1, keepdim=True)
    length = (gts[..., 1:] - gts[..., :1]).clamp(min=min_duration)
    shift = (2 * rand(batch, num_gts, num_jitter) - 1) * jitter_ratio
    scale = torch.exp((2 * rand(batch, num_gts, num_jitter) - 1) *
                      math.log1p(jitter_ratio))
    new_len = (length * scale).clamp(min_duration, max_duration)
    new_centre = centre + shift * length
    jit_start = torch.minimum((new_centre - new_len / 2).clamp(min=0),
                              temporal_dim - new_len)
    jitter_segs = torch.stack((jit_start, jit_start + new_len), dim=-1)
    jitter_valid = gt_valid[:, :, None].expand(-1, -1, num_jitter)

    segments = torch.cat((random_segs, jitter_segs.reshape(batch, -1, 2)), 1)
    valid = torch.cat((torch.ones(batch, num_random, dtype=torch.bool,
                                  device=device),
                       jitter_valid.reshape(batch, -1)), dim=1)
    return segments, valid


def scale_invariant_anchors(temporal_dim: int,
                            duration_dim: int,
                            num_scales: int = 16,
                            min_duration: float = 1.0,
                            stride_ratio: float = 0.25,
                            device: Optional[torch.device] = None) -> Tensor:
    """A scale-invariant inference anchor set.

    Durations on a geometric ladder of ``num_scales`` steps from
    ``min_duration`` to ``min(D, T)``; for each duration ``l`` starts every
    ``max(1, stride_ratio * l)`` snippets from 0 to ``T - l`` (the last
    start always included), so each scale is covered with the same relative
    density and long segments are not over-represented as on the grid.

    Args:
        temporal_dim (int): T.
        duration_dim (int): D.
        num_scales (int): Durations on the ladder. Defaults to 16.
        min_duration (float): Shortest duration. Defaults to 1.
        stride_ratio (float): Start stride over duration. Defaults to 0.25.
        device (torch.device, optional): Defaults to the CPU.

    Returns:
        Tensor: (K, 2) float32 segments in snippet-boundary units, sorted
        by duration then start.
    """
    max_duration = float(min(duration_dim, temporal_dim))
    durations = torch.logspace(
        math.log10(min_duration), math.log10(max_duration), num_scales,
        dtype=torch.float64)
    anchors = []
    for dur in durations.tolist():  # a few scales, not per sample
        stride = max(1.0, stride_ratio * dur)
        last = temporal_dim - dur
        starts = torch.arange(0, last + 1e-9, stride, dtype=torch.float64)
        if last - float(starts[-1]) > 1e-6:
            starts = torch.cat((starts, starts.new_tensor([last])))
        anchors.append(torch.stack((starts, starts + dur), dim=-1))
    return torch.cat(anchors).float().to(device)


# --------------------------------------------------------------------------
# Config-built forms (TASK_UTILS), for ``train_cfg.sampler`` and
# ``test_cfg.anchors``: a sampler or an anchor set of one's own is a class
# registered there with the same call.


@TASK_UTILS.register_module()
class ScaleInvariantSampler:
    """RCL's training segments, :func:`scale_invariant_samples`, built from
    ``train_cfg.sampler``.

    A sampler is called as ``sampler(gt_segments, gt_valid, temporal_dim,
    duration_dim) -> (segments, valid)``: (B, G, 2) normalised ground
    truth and its (B, G) mask in, (B, K, 2) segments in snippet-boundary
    units and their (B, K) mask out.

    Args:
        num_random (int): Random segments per video. Defaults to 256.
        num_jitter (int): Copies per ground truth. Defaults to 8.
        min_duration (float): Shortest duration, in snippets. Defaults
            to 1.
        jitter_ratio (float): Jitter amplitude. Defaults to 0.25.
    """

    def __init__(self,
                 num_random: int = 256,
                 num_jitter: int = 8,
                 min_duration: float = 1.0,
                 jitter_ratio: float = 0.25) -> None:
        self.num_random = num_random
        self.num_jitter = num_jitter
        self.min_duration = min_duration
        self.jitter_ratio = jitter_ratio

    def __call__(self, gt_segments: Tensor, gt_valid: Tensor,
                 temporal_dim: int,
                 duration_dim: int) -> Tuple[Tensor, Tensor]:
        """See the class docstring and :func:`scale_invariant_samples`."""
        return scale_invariant_samples(
            gt_segments, gt_valid, temporal_dim, duration_dim,
            num_random=self.num_random, num_jitter=self.num_jitter,
            min_duration=self.min_duration, jitter_ratio=self.jitter_ratio)


@TASK_UTILS.register_module()
class ScaleInvariantAnchors:
    """RCL's inference anchors, :func:`scale_invariant_anchors`, built
    from ``test_cfg.anchors``.

    An anchor set is called as ``anchors(temporal_dim, duration_dim,
    device) -> (K, 2)`` segments in snippet-boundary units, which the
    localizer scores (:meth:`RCLLocalizer.score_segments`).

    Args:
        num_scales (int): Durations on the ladder. Defaults to 16.
        min_duration (float): Shortest duration. Defaults to 1.
        stride_ratio (float): Start stride over duration. Defaults to 0.25.
    """

    def __init__(self,
                 num_scales: int = 16,
                 min_duration: float = 1.0,
                 stride_ratio: float = 0.25) -> None:
        self.num_scales = num_scales
        self.min_duration = min_duration
        self.stride_ratio = stride_ratio

    def __call__(self, temporal_dim: int, duration_dim: int,
                 device: Optional[torch.device] = None) -> Tensor:
        """See the class docstring and :func:`scale_invariant_anchors`."""
        return scale_invariant_anchors(temporal_dim, duration_dim,
                                       self.num_scales, self.min_duration,
                                       self.stride_ratio, device=device)
