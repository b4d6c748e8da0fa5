# Copyright (c) rcl_mm contributors. All rights reserved.
"""FLOP counting of the localizers by forward hooks and registered counters.

mmengine's ``get_model_complexity_info`` traces the model with
``torch.jit``; our CARAlign op builds its sampling plan in Python from
tensor values (tile widths, bag offsets), which a trace cannot follow, so
it fails on every BMN-based model. torch's ``FlopCounterMode`` counts every
matrix product, the interpolations written as products included, which
papers (and this count) leave out. We count in mmengine's (fvcore's)
convention instead: one multiply-accumulate is one FLOP, convolutions and
linear layers are counted, element-wise operations (activations, GRU
gating, pooling, interpolation) are not.

Each module type with a cost is counted by a forward hook that calls its
counter (:data:`FLOP_COUNTERS`, :func:`register_flop_counter`; mmcv's
pattern): convolutions and linear layers from their output, and the
modules that compute with their weights split or fused (so that parts are
computed once) from what they are given: the BM layer
(:class:`BMNBackbone`, from its plan's taps, :func:`rcl_mm.ops.count_taps`),
the RRM neck (:func:`rrm_functional_flops`), the CAR head
(:func:`rcl_head_flops`) on the grid, as the localizer's ``mode='tensor'``
applies it. Nothing is patched on the model.

Two counts of the BM layer. ``'fused'`` (what runs): the fused BM layer
(:meth:`BMNBackbone.boundary_matching`) is counted as what it computes,
the projection ``bmm`` (``B * T * C * O * N``) plus the tap sums
(``B * O * taps``, ``taps`` = the non-zero weights of the merged grid
plan, at most ``2 * S`` per bin and anchor). ``'dense'`` (the
dense-equivalent count, as papers count BMN-based models): the BM layer
and its 3-D convolution as mmaction2's BMN computes them, the sampling
mask product ``B x C x T`` times ``T x (N * D * T)`` and the 3-D conv
over the N samples (:func:`bm_layer_dense_flops`).
"""
from typing import Callable, Dict, Mapping, Optional, Tuple, Union

import torch
import torch.nn as nn
from torch import Tensor

from rcl_mm.models.backbones.bmn import BMNBackbone
from rcl_mm.models.heads.rcl_head import RCLHead
from rcl_mm.models.localizers.rcl_localizer import RCLLocalizer
from rcl_mm.models.necks.rrm_refiner import RRMRefiner
from rcl_mm.ops import count_taps


def _conv_flops(module: nn.Module, output: Tensor) -> int:
    kernel = 1
    for size in module.kernel_size:
        kernel *= size
    per_output = module.in_channels // module.groups * kernel
    return output.numel() * per_output


def bm_layer_flops(backbone: BMNBackbone, batch: int) -> int:
    """FLOPs of the fused BM layer and its 3-D conv for a batch.

    Args:
        backbone (BMNBackbone): The backbone (its grid plan is used).
        batch (int): B.

    Returns:
        int: ``B * (T * C * O * N + O * taps)``.
    """
    out_channels = backbone.hidden_dim_3d
    bmm = (backbone.temporal_dim * backbone.hidden_dim_1d * out_channels *
           backbone.num_samples)
    taps = count_taps(backbone.grid_sample_index,
                      backbone.grid_sample_weight)
    return batch * (bmm + out_channels * taps)


def bm_layer_dense_flops(backbone: BMNBackbone, batch: int) -> int:
    """FLOPs of the BM layer and its 3-D conv computed densely, as
    mmaction2's BMN does: ``matmul(x, sample_mask)`` of the ``B x C x T``
    1-D features with the ``T x (N * D * T)`` mask, then the 3-D conv
    (kernel and stride ``N x 1 x 1``, C -> O) over the sampled
    ``B x C x N x D x T`` tensor. mmaction2's map is T x T (D = T); for
    D < T the same computation over D durations.

    Args:
        backbone (BMNBackbone): The backbone.
        batch (int): B.

    Returns:
        int: ``B * (C * T * N * D * T + O * D * T * C * N)``.
    """
    anchors = backbone.duration_dim * backbone.temporal_dim
    sampled = backbone.num_samples * anchors
    mask_product = backbone.hidden_dim_1d * backbone.temporal_dim * sampled
    conv3d = backbone.hidden_dim_3d * backbone.hidden_dim_1d * sampled
    return batch * (mask_product + conv3d)


def _small_block_functional_flops(neck: RRMRefiner, batch: int,
                                  coarse: int, iters: int) -> int:
    """The ``'raft_small'`` block's convolutions applied in parts, on
    ``coarse`` pooled cells: the encoder's fusing conv (its F-branch
    columns once, its map-branch columns every iteration) and the GRU
    (its context columns once, hidden state and encoder output every
    iteration). Its other layers are modules, counted by their hooks."""
    block = neck.update_block
    fuse = block.encoder.conv
    fuse_kernel = fuse.kernel_size[0] * fuse.kernel_size[1]
    map_branch = block.encoder.convm2.out_channels
    feat_branch = fuse.in_channels - map_branch
    fuse_flops = coarse * fuse_kernel * fuse.out_channels * (
        feat_branch + iters * map_branch)
    gru = block.gru
    kernel = gru.convz.kernel_size[0] * gru.convz.kernel_size[1]
    gru_flops = coarse * kernel * 3 * neck.hdim * (
        neck.cdim + iters * (neck.hdim + block.encoder.output_channels))
    return batch * (fuse_flops + gru_flops)


def rrm_functional_flops(neck: RRMRefiner, feat: Tensor,
                         iters: int) -> int:
    """FLOPs of the convolutions :class:`RRMRefiner` applies in parts.

    The ConvGRU's three 3x3 convolutions run on the pooled grid: their
    fixed input channels (F-derived features and context) once
    (:meth:`ConvGRU.static_terms`), the hidden state and the encoded map
    every iteration (:meth:`ConvGRU.step`). The delta head's first 1x1
    conv: its hidden-state part on the pooled grid before upsampling, its
    map part on the full grid every iteration, its fine-feature part once;
    its last 1x1 conv on the full grid every iteration. The fine features'
    1x1 conv (``fine_feat``) once. The neck's other layers are
    modules, counted by their hooks; the upsampling (interpolation) is not
    counted.

    That is the ``'light'`` block; for ``'raft_small'`` see
    :func:`_small_block_functional_flops` (its bilinear upsampling of
    ``delta_t`` is not counted either).

    Args:
        neck (RRMRefiner): The neck.
        feat (Tensor): Its ``B x C x D x T`` input.
        iters (int): Iterations run.

    Returns:
        int: ``B * (Dc * Tc * k^2 * 3 * hdim * (S + iters * (hdim + Mc)) +
        H * (D * T * F + iters * (Dc * Tc * hdim + D * T * 4)) +
        D * T * F * C)`` with the
        pooled grid ``Dc x Tc``, GRU kernel ``k``, ``S`` fixed and ``Mc``
        encoded-map input channels, ``H`` head channels and ``F``
        fine-feature channels; 0 for no iterations.
    """
    if iters == 0:
        return 0
    batch, _, duration, temporal = feat.shape
    stride = neck.stride
    coarse = -(-duration // stride) * -(-temporal // stride)
    if neck.block_type == 'raft_small':
        return _small_block_functional_flops(neck, batch, coarse, iters)
    cells = duration * temporal
    gru = neck.gru
    kernel = gru.convz.kernel_size[0] * gru.convz.kernel_size[1]
    map_channels = neck.map_enc[0].out_channels
    static_channels = gru.convz.in_channels - neck.hdim - map_channels
    gru_flops = coarse * kernel * 3 * neck.hdim * (
        static_channels + iters * (neck.hdim + map_channels))
    head = neck.delta_head[0]
    hidden_channels, map_part, fine_channels = neck.head_input_split()
    # The map part (2 -> H) and the last layer (H -> 2) per cell.
    per_iter = coarse * hidden_channels + cells * (map_part + 2)
    head_flops = head.out_channels * (cells * fine_channels +
                                      iters * per_iter)
    fine = neck.fine_feat[0]
    fine_flops = cells * fine.out_channels * fine.in_channels
    return batch * (gru_flops + head_flops + fine_flops)


def rcl_head_flops(head: RCLHead, batch: int, cells: int = 0,
                   segments: int = 0, terms_cells: int = 0) -> int:
    """FLOPs of the layers :class:`RCLHead` applies with split weights.

    ``out`` and the CAR MLP's first layer on F once per cell
    (:meth:`RCLHead.cell_terms`); per scored grid cell the MLP's last
    layer (and in ``'exact'`` mode its first layer's exact-feature
    columns); per scored segment the same plus the offset columns. The
    convolutions producing F and the exact features are modules, counted
    by their hooks.

    Args:
        head (RCLHead): The head.
        batch (int): B.
        cells (int): Grid cells scored by :meth:`RCLHead.grid_logits`.
        segments (int): Segments scored by :meth:`RCLHead.segment_logits`.
        terms_cells (int): Cells of F given to :meth:`RCLHead.cell_terms`.

    Returns:
        int: ``B * (terms_cells * (2 + M) * C + cells * (2 * M + E) +
        segments * (4 * M + E))``, ``M`` the MLP channels, ``C`` F's
        channels, ``E = M * C`` in ``'exact'`` mode, else 0.
    """
    mlp = head.car[0].out_channels
    exact = mlp * head.hidden_channels if head.mode == 'exact' else 0
    return batch * (terms_cells * (2 + mlp) * head.hidden_channels +
                    cells * (2 * mlp + exact) + segments *
                    (4 * mlp + exact))


BM_COUNTS = ('fused', 'dense')
#: What a counter returns: FLOPs (the same in both counts) or FLOPs per
#: count of :data:`BM_COUNTS`.
FlopCount = Union[int, Mapping[str, int]]
#: Module type -> ``(counter, owner)``. ``counter(module, args, kwargs,
#: output)`` gives the FLOPs of one call of ``module`` (its forward hook's
#: arguments); ``owner(module)`` the module they are attributed to (None:
#: the module itself).
FLOP_COUNTERS: Dict[type, Tuple[Callable[..., FlopCount],
                                Optional[Callable[[nn.Module],
                                                  nn.Module]]]] = {}


def register_flop_counter(module_type: type,
                          owner: Optional[Callable[[nn.Module],
                                                   nn.Module]] = None):
    """Register the FLOP counter of a module type (a decorator).

    The counter runs in a forward hook of each module of that type (or a
    subclass) in the counted model: ``counter(module, args, kwargs,
    output) -> int`` or ``{'fused': int, 'dense': int}``.

    Args:
        module_type (type): An ``nn.Module`` subclass.
        owner (callable, optional): ``module -> the module whose part of
            the model the FLOPs belong to``, for a module that counts work
            done with another's weights (the localizer's use of its
            head's layers). Defaults to the module itself.
    """

    def register(counter: Callable[..., FlopCount]):
        FLOP_COUNTERS[module_type] = (counter, owner)
        return counter

    return register


def _counter_of(module: nn.Module):
    for klass in type(module).__mro__:
        if klass in FLOP_COUNTERS:
            return FLOP_COUNTERS[klass]
    return None


@register_flop_counter(nn.Conv1d)
@register_flop_counter(nn.Conv2d)
@register_flop_counter(nn.Conv3d)
def _count_conv(module, args, kwargs, output) -> int:
    return _conv_flops(module, output)


@register_flop_counter(nn.Linear)
def _count_linear(module, args, kwargs, output) -> int:
    return output.numel() * module.in_features


@register_flop_counter(BMNBackbone)
def _count_bm_layer(module, args, kwargs, output) -> Dict[str, int]:
    batch = args[0].size(0)
    return dict(fused=bm_layer_flops(module, batch),
                dense=bm_layer_dense_flops(module, batch))


@register_flop_counter(RRMRefiner)
def _count_rrm(module, args, kwargs, output) -> int:
    feat = args[0] if args else kwargs['feat']
    return rrm_functional_flops(module, feat, len(output))


@register_flop_counter(RCLLocalizer, owner=lambda localizer: localizer.head)
def _count_rcl_localizer(module, args, kwargs, output) -> int:
    """The head's split layers as the localizer applies them: in
    ``mode='tensor'`` (``extract``), the cell terms and the logits of every
    grid cell, whether the neck shares the read of F or not."""
    mode = args[2] if len(args) > 2 else kwargs.get('mode', 'tensor')
    if mode != 'tensor':
        raise ValueError("RCLLocalizer's FLOPs are counted in "
                         f"mode='tensor' (one forward pass), got {mode!r}")
    inputs = args[0] if args else kwargs['inputs']
    cells = module.duration_dim * module.temporal_dim
    return rcl_head_flops(module.head, len(inputs), cells=cells,
                          terms_cells=cells)


def count_flops(model: nn.Module, inputs: Tensor, bm_count: str = 'fused',
                **forward_kwargs) -> Dict[str, int]:
    """FLOPs of one forward pass, total and per top-level child.

    Args:
        model (nn.Module): Any model; BMN backbones inside it are counted
            with :func:`bm_layer_flops` (``bm_count='fused'``, what runs)
            or :func:`bm_layer_dense_flops` (``'dense'``, the
            dense-equivalent count).
        inputs (Tensor): The input batch.
        bm_count (str): ``'fused'`` or ``'dense'``. Defaults to
            ``'fused'``.
        **forward_kwargs: Passed to ``model(inputs, ...)``.

    Returns:
        dict[str, int]: ``total`` and one entry per named child of
        ``model`` (e.g. ``backbone``, ``head``, ``neck``).
    """
    if bm_count not in BM_COUNTS:
        raise ValueError(f'bm_count must be one of {BM_COUNTS}, got '
                         f'{bm_count!r}')
    return count_flops_both(model, inputs, **forward_kwargs)[bm_count]


@torch.no_grad()
def count_flops_both(model: nn.Module, inputs: Tensor,
                     **forward_kwargs) -> Dict[str, Dict[str, int]]:
    """Both counts of :func:`count_flops` from one forward pass.

    Returns:
        dict: ``fused`` and ``dense``, each as :func:`count_flops` returns
        it.
    """
    counts = dict(fused={}, dense={})
    prefix = {}
    for child_name, child in model.named_children():
        for module in child.modules():
            prefix[id(module)] = child_name

    def hook(module, args, kwargs, output):
        counter, owner = _counter_of(module)
        flops = counter(module, args, kwargs, output)
        if not isinstance(flops, Mapping):
            flops = dict.fromkeys(BM_COUNTS, flops)
        name = prefix.get(id(owner(module) if owner else module), 'other')
        for key, value in flops.items():
            counts[key][name] = counts[key].get(name, 0) + int(value)

    handles = [
        module.register_forward_hook(hook, with_kwargs=True)
        for module in model.modules() if _counter_of(module) is not None
    ]
    try:
        model(inputs, **forward_kwargs)
    finally:
        for handle in handles:
            handle.remove()
    for count in counts.values():
        count['total'] = sum(count.values())
    return counts


def parameter_count(model: nn.Module) -> Dict[str, int]:
    """Parameters, total and per top-level child."""
    counts = {
        name: sum(p.numel() for p in child.parameters())
        for name, child in model.named_children()
    }
    counts['total'] = sum(p.numel() for p in model.parameters())
    return counts
