# Copyright (c) rcl_mm contributors. All rights reserved.
"""CARAlign: features of temporal segments, sampled the way BMN samples them.

CARAlign replaces BMN's Boundary-Matching layer (and the 3-D convolution
after it) for any set of real-valued segments, without building BMN's dense
``T x (N * D * T)`` sampling mask or its ``B x C x N x D x T`` feature tensor.

Conventions:

* ``x``: ``B x C x T`` features; feature ``i`` sits at position ``i``
  (snippet-index coordinates).
* ``segments``: ``(start, end)`` in the same index coordinates, real-valued,
  shape ``B x K x 2``, or ``K x 2`` shared by the whole batch. BMN's grid
  anchor (duration index ``d``, start index ``t``) is the segment
  ``(t, t + d)``.
* Length ``L = end - start + 1`` (the BMN convention: an anchor covering
  snippets ``t .. t + d`` has length ``d + 1``). Inverted segments: ``end``
  is first clamped to ``>= start``, so an inverted segment is read as the
  one-snippet segment at its start.
* Widened region: ``[start - r * L, end + r * L]``, ``r = widen_ratio``
  (default 0.5).
* ``N`` bins x ``S`` points: ``N * S`` positions evenly spaced from region
  start to region end inclusive (step = region_length / (N * S - 1)); bin
  ``n`` averages points ``n * S .. n * S + S - 1`` (weights ``1 / S``).
* Interpolation at position ``p`` exactly as BMN does it with Python's
  ``math.modf``: ``lower = trunc(p)`` (toward zero),
  ``frac = p - trunc(p)``; weight ``1 - frac`` at index ``lower`` and
  ``frac`` at index ``ceil(p)``; any index outside ``[0, T - 1]`` is dropped
  (contributes zero). Consequences: positions in ``(-1, 0)`` put their whole
  weight on index 0 (taps ``1 - frac`` and ``frac``, ``frac < 0``, both at
  index 0); positions ``<= -1`` contribute nothing; positions in
  ``(T - 1, T)`` keep only ``1 - frac`` at index ``T - 1``; positions
  ``>= T`` contribute nothing. Segments partly or wholly outside
  ``[0, T - 1]`` therefore never index out of bounds; wholly outside gives
  zeros. Non-finite coordinates also give zeros.
* Output without projection: ``B x C x N x K``. With a projection weight
  ``W`` of shape ``O x C x N`` (the conv3d weight of BMN, squeezed from
  ``O x C x N x 1 x 1``) the output is ``B x O x K`` and equals
  ``sum_{c, n} W[o, c, n] * sampled[b, c, n, k]`` (no bias; the caller adds
  it).

How it is computed: the sampling positions are computed in float64 with the
same operations, in the same order, as BMN's Python floats, so every tap
(index) is the one BMN picks and the weights agree to rounding. The
``2 * S`` taps of each bin are merged (equal indices summed, zero weights
removed), so a bin reads each feature at most once. With a projection, ``W``
is applied to ``x`` first, giving a table ``Z`` with one row per
``(t, n)``: ``Z[b, t * N + n, o] = sum_c W[o, c, n] x[b, c, t]``, stored as
``G`` column tiles of ``O / G`` channels (on the CPU a tile is sized to stay
in cache; on CUDA there is one tile). Each segment then sums its merged taps
of ``Z`` with :func:`torch.nn.functional.embedding_bag`. The backward pass
is the transposed aggregation, again an ``embedding_bag`` over the taps
sorted by table row, so neither pass scatters, uses atomics, or builds a
dense mask. Half and bfloat16 inputs run natively (``embedding_bag`` and
``bmm`` support both on CPU and CUDA); the tap weights are cast to the input
dtype, so the output dtype is ``x``'s (under autocast, ``Z``'s).

``impl='dense'`` (for GPUs) instead writes the merged taps into a dense
``K x (T * N)`` matrix, once per call, and sums them as one matrix product
with ``Z`` for the whole batch (the backward pass is the transposed
product). It does more arithmetic (every table row for every segment) but
no gather, no sort and no plan split (the gather path's ``nonzero`` and
``tolist``, which wait for the GPU), which suits GPUs' matrix units; the
values equal the gather path's to rounding. ``impl='triton'`` (CUDA) runs
the same sums as Triton kernels, see :mod:`rcl_mm.ops.car_align_triton`.
"""
from typing import List, NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd import Function
from torch.autograd.function import once_differentiable

# A CPU column tile of the gathered table is sized to about this many bytes
# so that it stays in the per-core L2 cache while a tile's taps are summed
# (faster than one untiled pass at the ANet setting; docs/benchmark.md).
_TILE_BYTES = 1 << 20
_MIN_TILE = 32
_MAX_TILE = 128
IMPLS = ('auto', 'gather', 'dense', 'triton')


def car_align_sampling(segments: Tensor,
                       temporal_dim: int,
                       num_bins: int = 32,
                       points_per_bin: int = 3,
                       widen_ratio: float = 0.5) -> Tuple[Tensor, Tensor]:
    """Compute the sampling plan (feature indices and weights) of segments.

    The plan depends only on the segments and ``temporal_dim``, so a model
    with a fixed grid computes it once and keeps it (e.g. as a
    non-persistent buffer). See the module docstring for the rules.

    Args:
        segments (Tensor): ``(start, end)`` pairs in snippet-index
            coordinates, shape ``(..., K, 2)``.
        temporal_dim (int): ``T``, the number of features.
        num_bins (int): ``N``, bins per segment. Defaults to 32.
        points_per_bin (int): ``S``, points averaged per bin. Defaults to 3.
        widen_ratio (float): ``r``; the region read is the segment widened
            by ``r * L`` on each side. Defaults to 0.5.

    Returns:
        tuple[Tensor, Tensor]: ``index`` of shape ``(..., K, N, 2 * S)``
        (long, in ``[0, T - 1]``) and ``weight`` of the same shape (the
        segments' dtype, or the default dtype for integer segments). Taps
        are, per point, the lower then the upper neighbour; weights are
        already divided by ``S`` and are zero where a tap was dropped (its
        index then clamped into range).
    """
    if segments.dim() < 2 or segments.size(-1) != 2:
        raise ValueError('segments must have shape (..., K, 2), got '
                         f'{tuple(segments.shape)}')
    if temporal_dim < 1:
        raise ValueError(f'temporal_dim must be >= 1, got {temporal_dim}')
    if num_bins < 1 or points_per_bin < 1:
        raise ValueError('num_bins and points_per_bin must be >= 1, got '
                         f'{num_bins} and {points_per_bin}')
    num_points = num_bins * points_per_bin
    if num_points < 2:
        raise ValueError('num_bins * points_per_bin must be >= 2 (the '
                         'points span the region from start to end)')
    if widen_ratio < 0:
        raise ValueError(f'widen_ratio must be >= 0, got {widen_ratio}')
    out_dtype = (
        segments.dtype
        if segments.is_floating_point() else torch.get_default_dtype())

    # float64 and BMN's order of operations make the positions identical to
    # the reference's Python floats, so trunc/ceil pick the same taps.
    seg = segments.to(torch.float64)
    start = seg[..., 0]
    end = torch.maximum(seg[..., 1], start)
    length = (end - start) + 1.0
    region_start = start - length * widen_ratio
    region_end = end + length * widen_ratio
    step = (region_end - region_start) / (num_points - 1.0)
    steps = torch.arange(num_points, dtype=torch.float64, device=seg.device)
    pos = region_start[..., None] + step[..., None] * steps  # (..., K, NS)

    lower = torch.trunc(pos)
    frac = pos - lower  # negative in (-1, 0), as math.modf gives
    taps = torch.stack([lower, torch.ceil(pos)], dim=-1)  # (..., K, NS, 2)
    tap_weight = torch.stack([1.0 - frac, frac], dim=-1)
    valid = (taps >= 0) & (taps <= temporal_dim - 1)
    tap_weight = torch.where(valid, tap_weight, 0.0) * (1.0 / points_per_bin)
    # NaN positions compare False, so they land here as dropped taps too.
    taps = torch.where(valid, taps, taps.clamp(0, temporal_dim - 1))
    taps = torch.nan_to_num(taps, nan=0.0)

    shape = pos.shape[:-1] + (num_bins, 2 * points_per_bin)
    index = taps.long().reshape(shape)
    weight = tap_weight.to(out_dtype).reshape(shape)
    return index, weight


class _BagPlan(NamedTuple):
    """Merged taps of one batch element, in ``embedding_bag`` form.

    ``rows`` (E,) and ``weight`` (E,) are the taps, sorted by bag; bag ``j``
    owns entries ``offsets[j]`` up to the next offset; ``bags`` (E,) is each
    tap's bag (needed for the transposed plan).
    """
    rows: Tensor
    weight: Tensor
    bags: Tensor
    offsets: Tensor


def _exclusive_offsets(ids: Tensor, length: int) -> Tensor:
    """Start offsets of the groups of sorted ``ids`` in ``0 .. length-1``."""
    counts = torch.bincount(ids, minlength=length)
    return counts.cumsum(0) - counts


def _merge_bins(index: Tensor, weight: Tensor) -> Tuple[Tensor, Tensor]:
    """Sort each bin's taps by index and merge equal indices onto the first.

    Args:
        index (Tensor): Tap indices of shape ``(..., P)``.
        weight (Tensor): Tap weights of the same shape.

    Returns:
        tuple[Tensor, Tensor]: The sorted indices and the merged weights (in
        at least float32), zero on the taps merged into an earlier one.
    """
    index, order = index.sort(dim=-1, stable=True)
    # Merge in at least float32 so that half-precision plans lose nothing.
    acc_dtype = torch.promote_types(weight.dtype, torch.float32)
    weight = weight.gather(-1, order).to(acc_dtype)
    # Runs of equal indices are now contiguous and at most P long, so P - 1
    # shifted adds sum each run onto its head, in a fixed order (index_add_
    # would be nondeterministic on CUDA).
    merged = weight.clone()
    for shift in range(1, index.size(-1)):
        same = index[..., shift:] == index[..., :-shift]
        add = torch.where(same, weight[..., shift:], 0.0)
        # Once a shift adds nothing, no run holds a non-zero weight this
        # far from its head, so no longer shift can either: plans merged
        # already (SGAlign's) stop after one pass. The check reads a value
        # back, which on a GPU stops the host: there only for long tap
        # lists, where it saves many passes.
        if ((index.device.type == 'cpu' or index.size(-1) > 8)
                and not add.any()):
            break
        merged[..., :-shift] += add
    head = torch.ones_like(index, dtype=torch.bool)
    head[..., 1:] = index[..., 1:] != index[..., :-1]
    return index, torch.where(head, merged, 0.0)


def _bag_plans(rows: Tensor, weight: Tensor) -> List[_BagPlan]:
    """Drop zero taps and cut the rest into one plan per batch element.

    Args:
        rows (Tensor): Table rows of shape ``(M, num_bags, L)``.
        weight (Tensor): Tap weights of the same shape.

    Returns:
        list[_BagPlan]: One plan per ``m`` in ``0 .. M-1``.
    """
    num_plans, num_bags, taps_per_bag = rows.shape
    weight = weight.reshape(-1)
    keep = weight.nonzero().squeeze(1)
    rows = rows.reshape(-1)[keep]
    weight = weight[keep]
    bags = keep // taps_per_bag
    offsets = _exclusive_offsets(bags, num_plans * num_bags)
    # Bags are sorted, so plan m's taps start at its first bag's offset.
    starts = offsets[::num_bags].tolist() if num_bags else [0] * num_plans
    ends = starts[1:] + [rows.numel()]
    plans, begin = [], 0
    for m, end in enumerate(ends):
        plans.append(
            _BagPlan(rows[begin:end], weight[begin:end],
                     bags[begin:end] - m * num_bags,
                     offsets[m * num_bags:(m + 1) * num_bags] - begin))
        begin = end
    return plans


def _transpose_plan(plan: _BagPlan, num_rows: int) -> _BagPlan:
    """The plan that sums each table row's taps over the bags (backward)."""
    # Narrow integer keys sort several times faster on the CPU.
    key_dtype = torch.int16 if num_rows <= 2**15 else torch.int32
    order = torch.argsort(plan.rows.to(key_dtype), stable=True)
    rows = plan.rows[order]
    return _BagPlan(plan.bags[order], plan.weight[order], rows,
                    _exclusive_offsets(rows, num_rows))


def _dense_plan(rows: Tensor, weight: Tensor, num_rows: int,
                dtype: torch.dtype) -> Tensor:
    """Merged taps as a dense ``(M, num_bags, num_rows)`` matrix.

    Args:
        rows (Tensor): Table rows of shape ``(M, num_bags, L)``.
        weight (Tensor): Merged tap weights of the same shape: a row
            appears at most once per bag with a non-zero weight.
        num_rows (int): Rows of the table the matrix multiplies.
        dtype (torch.dtype): dtype of the result (the table's).

    Returns:
        Tensor: ``A`` with ``A[m, j, r]`` the weight of row ``r`` in bag
        ``j``. Built by ``scatter_add_``; since each ``(bag, row)`` gets at
        most one non-zero weight, the result does not depend on the order
        of the additions (CUDA atomics included).
    """
    matrix = weight.new_zeros(rows.shape[:2] + (num_rows, ))
    matrix.scatter_add_(2, rows, weight)
    return matrix.to(dtype)


def _tile_width(width: int, num_rows: int, dtype: torch.dtype,
                device: torch.device) -> int:
    """Columns per tile of a ``num_rows x width`` gathered table.

    Tiles only pay off on the CPU. They must divide ``width`` (so that one
    batched matmul makes them all); a width without a divisor of a useful
    size is left in one tile, which is slower but exact.
    """
    if device.type != 'cpu':
        return width
    itemsize = torch.empty((), dtype=dtype).element_size()
    fit = max(1, _TILE_BYTES // (num_rows * itemsize))
    target = min(max(1 << (fit.bit_length() - 1), _MIN_TILE), _MAX_TILE)
    if width <= target:
        return width
    tile = max(d for d in range(1, target + 1) if width % d == 0)
    return tile if tile >= _MIN_TILE else width


class _TapSum(Function):
    """``out[b, f, j] = sum_taps weight * table[b, row, f]`` over bag ``j``.

    The table comes in ``G`` column tiles, ``G x B x R x F``; the result is
    ``B x (G * F) x num_bags``, or ``B x num_bags x (G * F)`` with
    ``bags_first``. The backward pass is the transposed aggregation: each
    table row sums its taps' output gradients.
    """

    @staticmethod
    def forward(ctx, plans: List[_BagPlan], table: Tensor,
                bags_first: bool = False) -> Tensor:
        num_tiles, batch, num_rows, width = table.shape
        num_bags = plans[0].offsets.numel()
        if bags_first:
            out = table.new_empty(batch, num_bags, num_tiles * width)
        else:
            out = table.new_empty(batch, num_tiles * width, num_bags)
        weights = [p.weight.to(table.dtype) for p in plans]
        for g in range(num_tiles):
            for b in range(batch):
                i = b if len(plans) > 1 else 0
                res = F.embedding_bag(
                    plans[i].rows,
                    table[g, b],
                    plans[i].offsets,
                    mode='sum',
                    per_sample_weights=weights[i])
                if bags_first:
                    out[b, :, g * width:(g + 1) * width].copy_(res)
                else:
                    out[b, g * width:(g + 1) * width].copy_(res.t())
        ctx.plans = plans
        ctx.table_shape = table.shape
        ctx.bags_first = bags_first
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor) -> tuple:
        if not ctx.needs_input_grad[1]:
            return None, None, None
        num_tiles, batch, num_rows, width = ctx.table_shape
        plans = [_transpose_plan(p, num_rows) for p in ctx.plans]
        weights = [p.weight.to(grad_out.dtype) for p in plans]
        grad = grad_out.new_empty(ctx.table_shape)
        for g in range(num_tiles):
            for b in range(batch):
                i = b if len(plans) > 1 else 0
                if ctx.bags_first:
                    grad_tile = grad_out[b, :, g * width:(g + 1) * width]
                else:
                    grad_tile = grad_out[b, g * width:(g + 1) * width].t()
                grad[g, b] = F.embedding_bag(
                    plans[i].rows,
                    grad_tile.contiguous(),
                    plans[i].offsets,
                    mode='sum',
                    per_sample_weights=weights[i])
        return None, grad, None


def resolve_impl(impl: str, device: torch.device) -> str:
    """The CARAlign impl that ``impl`` names on ``device``.

    ``'auto'``: ``'dense'`` on CUDA (the fastest of the three in BMN's
    and RCL-BMN's training steps on the GPU of docs/benchmark.md),
    ``'gather'`` elsewhere (the CPU's fast path).
    """
    if impl not in IMPLS:
        raise ValueError(f'impl must be one of {IMPLS}, got {impl!r}')
    if impl != 'auto':
        return impl
    return 'dense' if torch.device(device).type == 'cuda' else 'gather'


def dense_sampling_matrix(index: Tensor, weight: Tensor,
                          temporal_dim: int) -> Tensor:
    """A shared plan as the matrix of the projected dense path.

    For a plan that does not change between calls (BMN's grid), so that
    ``impl='dense'`` need not merge, sort and scatter its taps at every
    call (:func:`car_align_with_sampling`'s ``dense_matrix``).

    Args:
        index (Tensor): ``(K, N, P)`` plan indices.
        weight (Tensor): ``(K, N, P)`` plan weights.
        temporal_dim (int): ``T`` of the features the plan reads.

    Returns:
        Tensor: ``(K, T * N)``, at least float32: ``A[k, t * N + n]`` the
        merged weight of snippet ``t`` in bin ``n`` of segment ``k``.
    """
    if index.dim() != 3 or index.shape != weight.shape:
        raise ValueError('index and weight must be one (K, N, P) shape, got '
                         f'{tuple(index.shape)} and {tuple(weight.shape)}')
    num_bins = index.size(1)
    index, weight = _merge_bins(index[None], weight[None])
    rows, weight = _bags(index, weight, True)
    return _dense_plan(rows, weight, temporal_dim * num_bins,
                       weight.dtype)[0]


def count_taps(index: Tensor, weight: Tensor) -> int:
    """Taps a CARAlign plan sums: its non-zero weights once equal indices
    of a bin are merged (what the fused op reads, e.g. for FLOP counts).

    Args:
        index (Tensor): ``(..., N, P)`` plan indices (``K x N x P`` for
            one plan, ``M x K x N x P`` for several).
        weight (Tensor): Plan weights of the same shape.

    Returns:
        int: The taps, at most ``P`` per bin and segment.
    """
    if index.shape != weight.shape:
        raise ValueError('index and weight must be one shape, got '
                         f'{tuple(index.shape)} and {tuple(weight.shape)}')
    _, merged = _merge_bins(index, weight)
    return int((merged != 0).sum())


def _batched_plan(x: Tensor, index: Tensor,
                  weight: Tensor) -> Tuple[Tensor, Tensor]:
    """Check a plan against ``x``; return it as ``(M, K, N, P)``, M = 1/B."""
    if x.dim() != 3:
        raise ValueError(f'x must be B x C x T, got {tuple(x.shape)}')
    if index.dim() not in (3, 4) or weight.dim() not in (3, 4):
        raise ValueError('index and weight must be (K, N, P) or (B, K, N, P)'
                         f', got {tuple(index.shape)} and '
                         f'{tuple(weight.shape)}')
    if index.device != x.device or weight.device != x.device:
        raise ValueError('the sampling plan and x must be on one device, got '
                         f'{index.device}, {weight.device} and {x.device}')
    if index.is_floating_point() or not weight.is_floating_point():
        raise TypeError('index must be an integer tensor and weight a '
                        'floating one')
    batch = x.size(0)
    if index.dim() == 4 or weight.dim() == 4:
        shape = (batch, ) + (index if index.dim() == 4 else weight).shape[1:]
        index, weight = index.expand(shape), weight.expand(shape)
    else:
        index, weight = index[None], weight[None]
    if index.shape != weight.shape:
        raise ValueError('index and weight must have one shape, got '
                         f'{tuple(index.shape)} and {tuple(weight.shape)}')
    temporal_dim = x.size(2)
    # On the CPU the range is checked here; on a GPU the check would stop
    # the host at every call (the gather and scatter kernels assert the
    # range themselves).
    if index.numel() and index.device.type == 'cpu':
        low, high = torch.aminmax(index)
        if low < 0 or high >= temporal_dim:
            raise IndexError(f'sampling index outside [0, {temporal_dim - 1}]'
                             f': [{int(low)}, {int(high)}]; was the plan '
                             'built for this temporal_dim?')
    return index, weight


def _check_projection(proj_weight: Tensor, channels: int,
                      num_bins: int) -> Tensor:
    """``proj_weight`` as ``O x C x N`` (a conv3d weight is squeezed)."""
    if proj_weight.dim() == 5 and proj_weight.shape[3:] == (1, 1):
        proj_weight = proj_weight.flatten(2)
    if (proj_weight.dim() != 3
            or proj_weight.shape[1:] != (channels, num_bins)):
        raise ValueError(f'proj_weight must be O x {channels} x {num_bins}, '
                         f'got {tuple(proj_weight.shape)}')
    return proj_weight


def _projected_table(xt: Tensor, proj_weight: Tensor) -> Tensor:
    """The table ``Z`` of the dense and Triton paths, one matmul.

    Args:
        xt (Tensor): ``B x T x C`` features.
        proj_weight (Tensor): ``O x C x N``, cast to ``xt``'s dtype.

    Returns:
        Tensor: ``B x (T * N) x O``, row ``t * N + n`` holding
        ``Z[b, t * N + n, o] = sum_c W[o, c, n] x[b, c, t]``.
    """
    batch, temporal_dim, channels = xt.shape
    out_channels, _, num_bins = proj_weight.shape
    table = torch.matmul(
        xt, proj_weight.to(xt.dtype).permute(1, 2, 0).reshape(
            channels, num_bins * out_channels))
    return table.view(batch, temporal_dim * num_bins, out_channels)


def _bags(index: Tensor, weight: Tensor,
          projected: bool) -> Tuple[Tensor, Tensor]:
    """The plan's taps grouped into bags of table rows, ``(M, J, P')``.

    Without projection the table is ``x`` itself (row ``t``) and the bags
    are the ``N * K`` (bin, segment) pairs ordered ``(n, k)``, so that a
    ``B x C x (N * K)`` result is already ``B x C x N x K``. With
    projection the table is ``Z`` (row ``t * N + n``, see
    :func:`_projected_table`) and the bags are the ``K`` segments, each
    with all ``N * P`` taps of its bins.

    Args:
        index (Tensor): ``(M, K, N, P)`` plan indices.
        weight (Tensor): ``(M, K, N, P)`` plan weights.
        projected (bool): Whether the table is the projected ``Z``.

    Returns:
        tuple[Tensor, Tensor]: Table rows and weights of each bag's taps.
    """
    num_plans, num_segments, num_bins, num_taps = index.shape
    if not projected:
        shape = (num_plans, num_bins * num_segments, num_taps)
        return (index.transpose(1, 2).reshape(shape),
                weight.transpose(1, 2).reshape(shape))
    bins = torch.arange(num_bins, device=index.device)
    shape = (num_plans, num_segments, num_bins * num_taps)
    return ((index * num_bins + bins[:, None]).reshape(shape),
            weight.reshape(shape))


def _car_align_triton(x: Tensor, index: Tensor, weight: Tensor,
                      proj_weight: Optional[Tensor],
                      channels_last: bool) -> Tensor:
    """``impl='triton'``: the unmerged plan summed by the Triton kernels
    of :mod:`rcl_mm.ops.car_align_triton` (imported here, on first use)."""
    from rcl_mm.ops.car_align_triton import TritonTapSum
    batch, channels, _ = x.shape
    _, num_segments, num_bins, _ = index.shape
    xt = x.transpose(1, 2)  # B x T x C
    if proj_weight is None:
        out = TritonTapSum.apply(xt, *_bags(index, weight, False), False)
        return out.view(batch, channels, num_bins, num_segments)
    proj_weight = _check_projection(proj_weight, channels, num_bins)
    return TritonTapSum.apply(_projected_table(xt, proj_weight),
                              *_bags(index, weight, True), channels_last)


def _dense_product(matrix: Tensor, table: Tensor,
                   channels_last: bool) -> Tensor:
    """The projected dense path's product: ``(M, K, R)`` matrix times the
    ``(B, R, O)`` table; ``(B, K, O)``, or ``(B, O, K)``."""
    batch, num_rows, out_channels = table.shape
    num_segments = matrix.size(1)
    if matrix.size(0) == 1:
        # One plan: Z as R x (B * O), so one matrix product serves the
        # whole batch without copying the matrix B times.
        table = table.transpose(0, 1).reshape(num_rows,
                                              batch * out_channels)
        out = torch.matmul(matrix[0], table).view(num_segments, batch,
                                                  out_channels)
        out = out.transpose(0, 1)  # B x K x O
    else:
        out = torch.bmm(matrix, table)
    if channels_last:
        return out.contiguous()
    return out.permute(0, 2, 1).contiguous()


def car_align_with_sampling(x: Tensor,
                            index: Tensor,
                            weight: Tensor,
                            proj_weight: Optional[Tensor] = None,
                            channels_last: bool = False,
                            impl: str = 'gather',
                            dense_matrix: Optional[Tensor] = None) -> Tensor:
    """Sample segment features with a precomputed plan.

    Args:
        x (Tensor): Features of shape ``(B, C, T)``.
        index (Tensor): Plan indices from :func:`car_align_sampling`, shared
            ``(K, N, P)`` or per batch element ``(B, K, N, P)``.
        weight (Tensor): Plan weights, the same shape as ``index`` (or the
            other of the two shapes, then broadcast over the batch).
        proj_weight (Tensor, optional): Projection ``W`` of shape
            ``(O, C, N)`` (a conv3d weight ``(O, C, N, 1, 1)`` is also
            accepted). Cast to ``x``'s dtype. Defaults to None.
        channels_last (bool): With a projection, return ``(B, K, O)``
            instead of ``(B, O, K)``: the layout the sums are made in, so
            no transposed copy is needed in either pass, and a grid of
            ``K = D * T`` segments viewed as ``(B, D, T, O)`` is a
            channels-last map for the 2-D convolutions that follow.
            Defaults to False.
        impl (str): How the taps are summed. ``'gather'`` (default):
            ``embedding_bag`` over the merged taps, memory and work
            proportional to the taps. ``'dense'``: the merged taps as a
            dense ``(K, T * N)`` matrix (``(N * K, T)`` without projection)
            multiplied with the table, one matrix product per pass; it
            does ``K * T * N * O`` multiply-adds per element instead of
            ``taps * O`` and holds the matrix (e.g. 5,050 x 3,200 at ANet:
            32 MiB in bfloat16), which suits GPUs' matrix units and not
            the CPU. ``'triton'``: the Triton kernels of
            :mod:`rcl_mm.ops.car_align_triton` (CUDA tensors; imported on
            first use, so the ``triton`` package is needed only then),
            which sum the unmerged plan directly, the backward pass from
            the taps sorted by row, without atomics. All give the same
            values up to rounding. ``'auto'``: ``'dense'`` on CUDA,
            ``'gather'`` elsewhere (:func:`resolve_impl`).
        dense_matrix (Tensor, optional): The shared plan's
            :func:`dense_sampling_matrix`, ``(K, T * N)``, used by the
            projected dense path instead of building it from the plan
            (which must then be the one it was made from). Defaults to
            None.

    Returns:
        Tensor: ``(B, C, N, K)`` sampled features, or ``(B, O, K)`` when
        projecting, with ``out[b, o, k] = sum_{c, n} W[o, c, n] *
        sampled[b, c, n, k]``. Differentiable in ``x`` and ``proj_weight``;
        its dtype is ``x``'s.
    """
    if channels_last and proj_weight is None:
        raise ValueError('channels_last needs proj_weight: the unprojected '
                         'result is (B, C, N, K).')
    impl = resolve_impl(impl, x.device)
    index, weight = _batched_plan(x, index, weight)
    if (impl == 'dense' and dense_matrix is not None
            and proj_weight is not None and index.size(0) == 1):
        proj_weight = _check_projection(proj_weight, x.size(1),
                                        index.size(2))
        table = _projected_table(x.transpose(1, 2), proj_weight)
        return _dense_product(
            dense_matrix.to(table.dtype)[None], table, channels_last)
    if impl == 'triton':
        return _car_align_triton(x, index, weight, proj_weight,
                                 channels_last)
    batch, channels, temporal_dim = x.shape
    num_plans, num_segments, num_bins, _ = index.shape
    index, weight = _merge_bins(index, weight)
    xt = x.transpose(1, 2)  # B x T x C

    if proj_weight is None:
        rows, weight = _bags(index, weight, False)
        if impl == 'dense':
            matrix = _dense_plan(rows, weight, temporal_dim, x.dtype)
            # B x C x T times T x (N * K): already B x C x N x K.
            out = torch.matmul(x, matrix.transpose(1, 2))
            return out.view(batch, channels, num_bins, num_segments)
        plans = _bag_plans(rows, weight)
        width = _tile_width(channels, temporal_dim, x.dtype, x.device)
        table = xt.reshape(batch, temporal_dim, channels // width, width)
        out = _TapSum.apply(plans, table.permute(2, 0, 1, 3).contiguous(),
                            False)
        return out.view(batch, channels, num_bins, num_segments)

    proj_weight = _check_projection(proj_weight, channels, num_bins)
    rows, weight = _bags(index, weight, True)
    num_rows = temporal_dim * num_bins
    out_channels = proj_weight.size(0)
    if impl == 'dense':
        table = _projected_table(xt, proj_weight)
        matrix = _dense_plan(rows, weight, num_rows, table.dtype)
        return _dense_product(matrix, table, channels_last)
    plans = _bag_plans(rows, weight)
    width = _tile_width(out_channels, num_rows, x.dtype, x.device)
    # Tile g of W as C x (N * width), so that one batched matmul gives every
    # tile's table, G x (B * T) x (N * width) = G x B x R x width.
    num_tiles = out_channels // width
    w_tiles = proj_weight.to(x.dtype).reshape(num_tiles, width, channels,
                                              num_bins)
    w_tiles = w_tiles.permute(0, 2, 3, 1).reshape(num_tiles, channels,
                                                  num_bins * width)
    # bmm, not matmul: matmul folds this product into one transposed mm
    # whose result it then copies back (the slowest step of the op).
    xt = xt.reshape(1, batch * temporal_dim, channels)
    table = torch.bmm(xt.expand(num_tiles, -1, -1), w_tiles)
    table = table.view(num_tiles, batch, num_rows, width)
    return _TapSum.apply(plans, table, channels_last)


def car_align(x: Tensor,
              segments: Tensor,
              num_bins: int = 32,
              points_per_bin: int = 3,
              widen_ratio: float = 0.5,
              proj_weight: Optional[Tensor] = None,
              impl: str = 'gather') -> Tensor:
    """Sample segment features, computing the sampling plan on the fly.

    Args:
        x (Tensor): Features of shape ``(B, C, T)``.
        segments (Tensor): ``(start, end)`` pairs, ``(B, K, 2)`` or shared
            ``(K, 2)``, in snippet-index coordinates.
        num_bins (int): ``N``. Defaults to 32.
        points_per_bin (int): ``S``. Defaults to 3.
        widen_ratio (float): ``r``. Defaults to 0.5.
        proj_weight (Tensor, optional): ``(O, C, N)`` projection. Defaults
            to None.
        impl (str): ``'gather'``, ``'dense'`` or ``'triton'``, see
            :func:`car_align_with_sampling`. Defaults to ``'gather'``.

    Returns:
        Tensor: ``(B, C, N, K)``, or ``(B, O, K)`` with ``proj_weight``.
    """
    if segments.dim() not in (2, 3):
        raise ValueError('segments must be (K, 2) or (B, K, 2), got '
                         f'{tuple(segments.shape)}')
    index, weight = car_align_sampling(segments, x.size(2), num_bins,
                                       points_per_bin, widen_ratio)
    return car_align_with_sampling(x, index, weight, proj_weight,
                                   impl=impl)


class CARAlign(nn.Module):
    """Continuous-anchor feature alignment (BMN's BM layer for any segment).

    See the module docstring of :mod:`rcl_mm.ops.car_align` for the
    conventions; the op never materialises BMN's dense sampling mask.

    Args:
        num_bins (int): ``N``, bins per segment. Defaults to 32.
        points_per_bin (int): ``S``, points averaged per bin. Defaults to 3.
        widen_ratio (float): ``r``, context added on each side as a fraction
            of the segment length. Defaults to 0.5.
        impl (str): ``'gather'``, ``'dense'`` or ``'triton'``, see
            :func:`car_align_with_sampling`. Defaults to ``'gather'``.
    """

    def __init__(self,
                 num_bins: int = 32,
                 points_per_bin: int = 3,
                 widen_ratio: float = 0.5,
                 impl: str = 'gather') -> None:
        super().__init__()
        if impl not in IMPLS:
            raise ValueError(f'impl must be one of {IMPLS}, got {impl!r}')
        self.num_bins = num_bins
        self.points_per_bin = points_per_bin
        self.widen_ratio = widen_ratio
        self.impl = impl

    def forward(self,
                x: Tensor,
                segments: Tensor,
                proj_weight: Optional[Tensor] = None) -> Tensor:
        """Sample ``x`` at ``segments``.

        Args:
            x (Tensor): ``(B, C, T)`` features.
            segments (Tensor): ``(B, K, 2)`` or ``(K, 2)`` segments.
            proj_weight (Tensor, optional): ``(O, C, N)`` projection.

        Returns:
            Tensor: ``(B, C, N, K)``, or ``(B, O, K)`` with ``proj_weight``.
        """
        return car_align(x, segments, self.num_bins, self.points_per_bin,
                         self.widen_ratio, proj_weight, self.impl)

    def __repr__(self) -> str:
        s = self.__class__.__name__
        s += f'(num_bins={self.num_bins}, '
        s += f'points_per_bin={self.points_per_bin}, '
        s += f'widen_ratio={self.widen_ratio}, '
        s += f'impl={self.impl!r})'
        return s


def bmn_grid_segments(
        temporal_dim: int,
        max_duration: Optional[int] = None,
        dtype: torch.dtype = torch.float32,
        device: Optional[torch.device] = None) -> Tuple[Tensor, Tensor]:
    """The valid anchors of BMN's ``D x T`` map as segments.

    Anchor ``(d, t)`` is the segment ``(t, t + d)``; it is valid when
    ``t + d <= T - 1`` (BMN's other anchors read nothing).

    Args:
        temporal_dim (int): ``T``.
        max_duration (int, optional): ``D``; defaults to ``T``.
        dtype (torch.dtype): Segment dtype. Defaults to float32.
        device (torch.device, optional): Device. Defaults to None (CPU).

    Returns:
        tuple[Tensor, Tensor]: ``segments`` of shape ``(K, 2)`` and
        ``flat_index`` of shape ``(K,)`` (long, ``d * T + t``, ascending), so
        that ``map.view(..., D * T)[..., flat_index] = out`` fills the map.
    """
    if max_duration is None:
        max_duration = temporal_dim
    starts = torch.arange(temporal_dim, device=device)
    durations = torch.arange(max_duration, device=device)
    d, t = torch.meshgrid(durations, starts, indexing='ij')
    valid = (t + d <= temporal_dim - 1).flatten()
    flat_index = valid.nonzero().squeeze(1)
    t, d = t.flatten()[flat_index], d.flatten()[flat_index]
    segments = torch.stack([t, t + d], dim=1).to(dtype)
    return segments, flat_index
