# Copyright (c) rcl_mm contributors. All rights reserved.
"""G-TAD's semantic graph (kNN in feature space) and SGAlign.

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
  no gradient, so no graph is kept. (G-TAD's max and mean over neighbours
  do not depend on their order.)
* SGAlign sampling is G-TAD's ``Align1D`` kernel (``Align1DForward`` in its
  ``Align1D_cuda_kernal.cu``), for a region ``[a, b]`` (the anchor
  ``(s, e)`` widened: ``a = s - r L``, ``b = e + r L``, ``L = e - s + 1``):

  - ``h = max(b - a, 1)``, bin width ``w = h / N``;
  - ``S = ceil(h / N)`` points per bin (adaptive: 1 to 7 per inner bin and
    up to 50 per context bin at ``T = 100``), or a fixed ``S`` when
    ``points_per_bin`` is given;
  - point ``i`` of bin ``n`` at ``p = a + n w + (i + 0.5) w / S``, each
    weighing ``1 / S``;
  - interpolation at ``p``: nothing when ``p < -1`` or ``p > T``; ``p`` in
    ``[-1, 0]`` reads snippet 0 with full weight; ``p`` in ``[T - 1, T]``
    reads snippet ``T - 1`` with full weight; otherwise ``1 - frac`` on
    ``floor(p)`` and ``frac`` on ``floor(p) + 1``.

  Positions are computed in float64 in the kernel's order of operations
  (the kernel runs in float32; the two pick different snippets only where
  a float32 position rounds across an integer). The ``2 S`` taps of each
  bin are merged into one weight per snippet when the plan is made, so the
  plan holds at most ``ceil(w) + 2`` taps per bin however many points the
  bin averages.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from .car_align import car_align_with_sampling


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


def sg_align_regions(segments: Tensor, widen_ratio: float = 0.5) -> Tensor:
    """The regions G-TAD's SGAlign reads for anchors ``(s, e)``.

    ``[s - r L, e + r L]`` with ``L = e - s + 1`` (G-TAD's ``center_len``);
    ``e`` is first clamped to ``>= s``.

    Args:
        segments (Tensor): ``(..., K, 2)`` in snippet-index coordinates.
        widen_ratio (float): ``r``. Defaults to 0.5.

    Returns:
        Tensor: ``(..., K, 2)`` float64 regions ``(a, b)``.
    """
    if segments.dim() < 2 or segments.size(-1) != 2:
        raise ValueError('segments must have shape (..., K, 2), got '
                         f'{tuple(segments.shape)}')
    seg = segments.to(torch.float64)
    start = seg[..., 0]
    end = torch.maximum(seg[..., 1], start)
    length = end - start + 1.0
    return torch.stack(
        [start - length * widen_ratio, end + length * widen_ratio], dim=-1)


def align1d_sampling(regions: Tensor,
                     temporal_dim: int,
                     num_bins: int,
                     points_per_bin: Optional[int] = None,
                     dtype: Optional[torch.dtype] = None
                     ) -> Tuple[Tensor, Tensor]:
    """G-TAD's ``Align1D`` of regions as a merged sampling plan.

    See the module docstring for the rule. The plan feeds
    :func:`rcl_mm.ops.car_align_with_sampling` (or
    :func:`sg_align_with_sampling`).

    Args:
        regions (Tensor): ``(..., K, 2)`` regions ``(a, b)`` as G-TAD passes
            them to ``Align1D`` (already widened).
        temporal_dim (int): ``T``.
        num_bins (int): ``N``.
        points_per_bin (int, optional): Fixed ``S``; None (default) takes
            G-TAD's adaptive ``ceil(max(b - a, 1) / N)`` per region.
        dtype (torch.dtype, optional): Weight dtype. Defaults to the
            regions' floating dtype, else the default dtype.

    Returns:
        tuple[Tensor, Tensor]: ``index`` (long, in ``[0, T - 1]``) and
        ``weight``, both ``(..., K, N, R)``: per bin, the snippets it reads
        (ascending, each once) and their weights, zero-padded to the
        largest bin's ``R`` taps.
    """
    if regions.dim() < 2 or regions.size(-1) != 2:
        raise ValueError('regions must have shape (..., K, 2), got '
                         f'{tuple(regions.shape)}')
    if temporal_dim < 1 or num_bins < 1:
        raise ValueError('temporal_dim and num_bins must be >= 1, got '
                         f'{temporal_dim} and {num_bins}')
    if points_per_bin is not None and points_per_bin < 1:
        raise ValueError(f'points_per_bin must be >= 1, got {points_per_bin}')
    if dtype is None:
        dtype = (regions.dtype if regions.is_floating_point() else
                 torch.get_default_dtype())
    device = regions.device
    reg = regions.to(torch.float64)
    region_start = reg[..., 0, None, None]  # (..., K, 1, 1)
    height = (reg[..., 1] - reg[..., 0]).clamp(min=1.0)[..., None, None]
    bin_size = height / num_bins
    if points_per_bin is None:
        count = torch.ceil(height / num_bins)
    else:
        count = torch.full_like(height, float(points_per_bin))
    max_count = int(count.max()) if count.numel() else 1
    bins = torch.arange(num_bins, dtype=torch.float64, device=device)
    points = torch.arange(max_count, dtype=torch.float64, device=device)
    # The kernel's order: roi_start + pt * bin_size + (it + .5) * bin_size
    # / grid.
    pos = (region_start + bins[:, None] * bin_size +
           (points + 0.5) * bin_size / count)  # (..., K, N, S_max)
    used = (points < count) & (pos >= -1.0) & (pos <= temporal_dim)
    pos = pos.clamp(min=0.0)
    lower = torch.floor(pos)
    at_end = lower >= temporal_dim - 1
    lower = torch.where(at_end, float(temporal_dim - 1), lower)
    frac = torch.where(at_end, 0.0, pos - lower)
    taps = torch.stack([lower, (lower + 1).clamp(max=temporal_dim - 1)],
                       dim=-1).flatten(-2).long()  # (..., K, N, 2 S_max)
    tap_weight = torch.stack([1.0 - frac, frac], dim=-1) / count[..., None]
    tap_weight = torch.where(used[..., None], tap_weight, 0.0).flatten(-2)

    # Merge: a bin's taps lie in [first, first + R), as positions increase
    # within a bin; one scatter-add sums them per snippet.
    first = taps.amin(dim=-1, keepdim=True)
    offset = taps - first
    width = int(offset.max()) + 1 if offset.numel() else 1
    merged = tap_weight.new_zeros(taps.shape[:-1] + (width, ))
    merged.scatter_add_(-1, offset, tap_weight)
    index = (first + torch.arange(width, device=device)).clamp(
        max=temporal_dim - 1)
    return index, merged.to(dtype)


def sg_align_sampling(segments: Tensor,
                      temporal_dim: int,
                      num_bins: int,
                      points_per_bin: Optional[int] = None,
                      widen_ratio: float = 0.5) -> Tuple[Tensor, Tensor]:
    """SGAlign's sampling plan of anchors ``(s, e)``: G-TAD's ``Align1D``
    over their widened regions.

    Args:
        segments (Tensor): ``(start, end)`` in snippet-index coordinates,
            shape ``(..., K, 2)``.
        temporal_dim (int): ``T``.
        num_bins (int): ``N``.
        points_per_bin (int, optional): Fixed ``S``; None (default) is
            G-TAD's adaptive count.
        widen_ratio (float): ``r``. Defaults to 0.5.

    Returns:
        tuple[Tensor, Tensor]: ``index`` and ``weight`` of shape
        ``(..., K, N, R)`` for :func:`car_align_with_sampling`, see
        :func:`align1d_sampling`.
    """
    out_dtype = (
        segments.dtype
        if segments.is_floating_point() else torch.get_default_dtype())
    return align1d_sampling(
        sg_align_regions(segments, widen_ratio), temporal_dim, num_bins,
        points_per_bin, out_dtype)


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
            Defaults to 32 (G-TAD's ActivityNet setting; 16 at THUMOS14).
        context_bins (int): ``N_c``, bins from the kNN-mean features.
            Defaults to 4 (16 at THUMOS14).
        points_per_bin (int, optional): Fixed ``S``; None (default) is
            G-TAD's adaptive ``ceil(max(b - a, 1) / N)``.
        inner_widen_ratio (float): Widening of the inner region. Defaults
            to 0.5 (G-TAD reads both from the widened anchor).
        context_widen_ratio (float): Widening of the context region.
            Defaults to 0.5.
    """

    def __init__(self,
                 inner_bins: int = 32,
                 context_bins: int = 4,
                 points_per_bin: Optional[int] = None,
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
