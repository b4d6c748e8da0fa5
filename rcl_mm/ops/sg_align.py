# Copyright (c) rcl_mm contributors. All rights reserved.
"""G-TAD's semantic graph (kNN in feature space) and SGAlign on CARAlign.

G-TAD (Xu et al., CVPR 2020) links every snippet to its ``k`` nearest
neighbours in feature space. Its SGAlign reads each anchor's features twice:
``N_inner`` bins from the temporal features and ``N_context`` bins from the
"semantic context" features (each snippet's mean over its kNN neighbours),
both over the anchor widened by ``0.5 x`` its length on each side, and a
1x1 convolution projects the ``C x (N_inner + N_context)`` concatenation.

Conventions:

* kNN: squared Euclidean distances ``|x_i|^2 + |x_j|^2 - 2 x_i . x_j`` per
  video; the ``k`` smallest, **self included** as G-TAD's ``knn`` does (its
  own distance is zero, so G-TAD ranks it first up to rounding). Here the
  diagonal is forced first, so self is always neighbour 0, whatever the
  rounding or duplicated features; distances are compared in float32 and
  ties among the others go to the lower index. Rows are processed in chunks
  so the distance matrix held at once is ``B x chunk x T``; indices carry
  no gradient, so no graph is kept.
* SGAlign positions (G-TAD's ``Align1D``, RoIAlign style with a fixed
  number of points per bin): an anchor ``(s, e)`` in snippet-index
  coordinates has length ``L = e - s + 1`` and region
  ``[a, b] = [s - r L, e + r L]``; with ``N`` bins of ``S`` points its
  points are the bin-centred ``a + (j + 0.5) (b - a) / (N S)``,
  ``j = 0 .. N S - 1``, and bin ``n`` averages points ``n S .. n S + S - 1``.
  The points are handed to :func:`rcl_mm.ops.car_align_sampling` as the
  segment ``(a + h, b - h)``, ``h = (b - a) / (2 N S)``, with no widening,
  so interpolation follows CARAlign's (BMN's ``modf``) rule. G-TAD's
  differences, kept out on purpose: its ``S`` is adaptive
  (``ceil((b - a) / N)``), and it clamps positions in ``(T - 1, T]`` to full
  weight on ``T - 1`` where CARAlign keeps ``1 - frac`` of it.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from .car_align import car_align_sampling, car_align_with_sampling


def knn_graph(x: Tensor, k: int = 3, chunk_size: int = 256) -> Tensor:
    """Indices of every snippet's ``k`` nearest neighbours in feature space.

    Args:
        x (Tensor): ``(B, C, T)`` features.
        k (int): Neighbours per snippet, self included. Defaults to 3.
        chunk_size (int): Query rows per distance block; the block held at
            once is ``B x chunk_size x T``. Defaults to 256.

    Returns:
        Tensor: ``(B, T, k)`` long indices in ``[0, T - 1]``, nearest first;
        column 0 is the snippet itself.
    """
    if x.dim() != 3:
        raise ValueError(f'x must be B x C x T, got {tuple(x.shape)}')
    batch, _, temporal_dim = x.shape
    if not 1 <= k <= temporal_dim:
        raise ValueError(f'k must be in [1, T = {temporal_dim}], got {k}')
    if chunk_size < 1:
        raise ValueError(f'chunk_size must be >= 1, got {chunk_size}')
    with torch.no_grad():
        # float32 at least: half-precision distances tie too often.
        feat = x.detach().transpose(1, 2).to(
            torch.promote_types(x.dtype, torch.float32))  # B x T x C
        sq_norm = feat.pow(2).sum(-1)  # B x T
        columns = torch.arange(temporal_dim, device=x.device)
        out = []
        for begin in range(0, temporal_dim, chunk_size):
            query = feat[:, begin:begin + chunk_size]
            dist = (sq_norm[:, begin:begin + chunk_size, None] +
                    sq_norm[:, None, :] -
                    2 * torch.bmm(query, feat.transpose(1, 2)))
            # A unique integer key per (distance, column): the bits of a
            # non-negative float32 sort as the float does, so one topk
            # gives the k nearest with ties to the lower index, several
            # times faster than a stable sort of the rows.
            dist = dist.clamp_(min=0).float()
            key = dist.view(torch.int32).long() * temporal_dim + columns
            rows = torch.arange(query.size(1), device=x.device)
            key[:, rows, rows + begin] = -1  # self first
            out.append(key.topk(k, dim=-1, largest=False)[1])
        return torch.cat(out, dim=1)


def gather_neighbours(x: Tensor, index: Tensor) -> Tensor:
    """Features of each snippet's neighbours.

    Args:
        x (Tensor): ``(B, C, T)`` features.
        index (Tensor): ``(B, T, k)`` neighbour indices (:func:`knn_graph`).

    Returns:
        Tensor: ``(B, C, T, k)`` with ``out[b, :, i, j] = x[b, :, index[b, i,
        j]]``. Differentiable in ``x``.
    """
    batch, channels, temporal_dim = x.shape
    k = index.size(-1)
    flat = index.reshape(batch, 1, temporal_dim * k).expand(-1, channels, -1)
    return x.gather(2, flat).view(batch, channels, temporal_dim, k)


def knn_context(x: Tensor, k: int = 3, chunk_size: int = 256) -> Tensor:
    """G-TAD's semantic context: each snippet's mean over its kNN.

    Args:
        x (Tensor): ``(B, C, T)`` features.
        k (int): Neighbours, self included. Defaults to 3.
        chunk_size (int): See :func:`knn_graph`. Defaults to 256.

    Returns:
        Tensor: ``(B, C, T)`` mean of the ``k`` neighbours' features.
    """
    return gather_neighbours(x, knn_graph(x, k, chunk_size)).mean(-1)


def sg_align_sampling(segments: Tensor,
                      temporal_dim: int,
                      num_bins: int,
                      points_per_bin: int = 3,
                      widen_ratio: float = 0.5) -> Tuple[Tensor, Tensor]:
    """CARAlign sampling plan at G-TAD's bin-centred positions.

    Args:
        segments (Tensor): ``(start, end)`` in snippet-index coordinates,
            shape ``(..., K, 2)``.
        temporal_dim (int): ``T``.
        num_bins (int): ``N``.
        points_per_bin (int): ``S``, fixed. Defaults to 3.
        widen_ratio (float): ``r``. Defaults to 0.5.

    Returns:
        tuple[Tensor, Tensor]: ``index`` and ``weight`` of shape
        ``(..., K, N, 2 * S)`` for :func:`car_align_with_sampling`.
    """
    if segments.dim() < 2 or segments.size(-1) != 2:
        raise ValueError('segments must have shape (..., K, 2), got '
                         f'{tuple(segments.shape)}')
    out_dtype = (
        segments.dtype
        if segments.is_floating_point() else torch.get_default_dtype())
    seg = segments.to(torch.float64)
    start = seg[..., 0]
    end = torch.maximum(seg[..., 1], start)
    length = end - start + 1.0
    region_start = start - widen_ratio * length
    region_end = end + widen_ratio * length
    half_step = (region_end - region_start) / (2.0 * num_bins *
                                               points_per_bin)
    points = torch.stack([region_start + half_step, region_end - half_step],
                         dim=-1)
    index, weight = car_align_sampling(points, temporal_dim, num_bins,
                                       points_per_bin, widen_ratio=0.0)
    return index, weight.to(out_dtype)


def sg_align_with_sampling(x: Tensor,
                           context: Tensor,
                           inner_plan: Tuple[Tensor, Tensor],
                           context_plan: Tuple[Tensor, Tensor],
                           proj_weight: Optional[Tensor] = None,
                           channels_last: bool = False) -> Tensor:
    """SGAlign with precomputed plans, optionally fused with the projection.

    Args:
        x (Tensor): ``(B, C, T)`` temporal features (inner points).
        context (Tensor): ``(B, C, T)`` kNN-mean features (context points).
        inner_plan (tuple[Tensor, Tensor]): ``(index, weight)`` of
            :func:`sg_align_sampling` with ``N_i`` bins, ``(K, N_i, P)`` or
            ``(B, K, N_i, P)``.
        context_plan (tuple[Tensor, Tensor]): The same with ``N_c`` bins.
        proj_weight (Tensor, optional): ``(O, C, N_i + N_c)``, or G-TAD's
            1x1 conv weight ``(O, C * (N_i + N_c), 1, 1)`` (channel
            ``c * (N_i + N_c) + n``). Defaults to None.
        channels_last (bool): With a projection, return ``(B, K, O)``.
            Defaults to False.

    Returns:
        Tensor: ``(B, C, N_i + N_c, K)`` (inner bins, then context bins), or
        ``(B, O, K)`` / ``(B, K, O)`` projected, without bias.
    """
    num_inner = inner_plan[0].size(-2)
    if proj_weight is None:
        inner = car_align_with_sampling(x, *inner_plan)
        outer = car_align_with_sampling(context, *context_plan)
        return torch.cat([inner, outer], dim=2)
    channels = x.size(1)
    proj_weight = proj_weight.reshape(proj_weight.size(0), channels, -1)
    # conv(cat(a, b)) = conv_a(a) + conv_b(b): two fused CARAlign sums,
    # never the B x C x (N_i + N_c) x K tensor.
    inner = car_align_with_sampling(x, *inner_plan,
                                    proj_weight[..., :num_inner],
                                    channels_last)
    outer = car_align_with_sampling(context, *context_plan,
                                    proj_weight[..., num_inner:],
                                    channels_last)
    return inner.add_(outer)


class SGAlign(nn.Module):
    """G-TAD's sub-graph alignment for any segments (no parameters).

    `G-TAD: Sub-Graph Localization for Temporal Action Detection
    <https://arxiv.org/abs/1911.11462>`_. See the module docstring of
    :mod:`rcl_mm.ops.sg_align` for the positions and the kNN rule.

    Args:
        inner_bins (int): ``N_i``, bins from the temporal features.
            Defaults to 32.
        context_bins (int): ``N_c``, bins from the kNN-mean features.
            Defaults to 4.
        points_per_bin (int): ``S``. Defaults to 3.
        inner_widen_ratio (float): Widening of the inner region. Defaults
            to 0.5 (G-TAD reads both from the widened anchor).
        context_widen_ratio (float): Widening of the context region.
            Defaults to 0.5.
    """

    def __init__(self,
                 inner_bins: int = 32,
                 context_bins: int = 4,
                 points_per_bin: int = 3,
                 inner_widen_ratio: float = 0.5,
                 context_widen_ratio: float = 0.5) -> None:
        super().__init__()
        self.inner_bins = inner_bins
        self.context_bins = context_bins
        self.points_per_bin = points_per_bin
        self.inner_widen_ratio = inner_widen_ratio
        self.context_widen_ratio = context_widen_ratio

    def plans(self, segments: Tensor, temporal_dim: int) -> tuple:
        """The inner and context sampling plans of ``segments``."""
        inner = sg_align_sampling(segments, temporal_dim, self.inner_bins,
                                  self.points_per_bin,
                                  self.inner_widen_ratio)
        context = sg_align_sampling(segments, temporal_dim,
                                    self.context_bins, self.points_per_bin,
                                    self.context_widen_ratio)
        return inner, context

    def forward(self,
                x: Tensor,
                context: Tensor,
                segments: Tensor,
                proj_weight: Optional[Tensor] = None) -> Tensor:
        """Sample ``x`` and ``context`` at ``segments``.

        Args:
            x (Tensor): ``(B, C, T)`` temporal features.
            context (Tensor): ``(B, C, T)`` kNN-mean features.
            segments (Tensor): ``(B, K, 2)`` or ``(K, 2)`` snippet-index
                segments.
            proj_weight (Tensor, optional): ``(O, C, N_i + N_c)``.

        Returns:
            Tensor: ``(B, C, N_i + N_c, K)``, or ``(B, O, K)`` projected.
        """
        inner, outer = self.plans(segments.to(x.dtype), x.size(2))
        return sg_align_with_sampling(x, context, inner, outer, proj_weight)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(inner_bins={self.inner_bins}, '
                f'context_bins={self.context_bins}, '
                f'points_per_bin={self.points_per_bin}, '
                f'inner_widen_ratio={self.inner_widen_ratio}, '
                f'context_widen_ratio={self.context_widen_ratio})')
