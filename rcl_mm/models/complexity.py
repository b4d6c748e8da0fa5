# Copyright (c) rcl_mm contributors. All rights reserved.
"""FLOP counting of the localizers, with a handle for the fused BM layer.

mmengine's ``get_model_complexity_info`` traces the model with
``torch.jit``; our CARAlign op builds its sampling plan in Python from
tensor values (tile widths, bag offsets), which a trace cannot follow, so
it fails on every BMN-based model. We count with forward hooks instead,
in mmengine's (fvcore's) convention: one multiply-accumulate is one FLOP,
convolutions and linear layers are counted, element-wise operations
(activations, GRU gating, pooling, interpolation) are not.

Two counts of the BM layer. ``'fused'`` (what runs): the fused BM layer
(:meth:`BMNBackbone.boundary_matching`) is counted as what it computes,
the projection ``bmm`` (``B * T * C * O * N``) plus the tap sums
(``B * O * taps``, ``taps`` = the non-zero weights of the merged grid
plan, at most ``2 * S`` per bin and anchor). ``'dense'`` (the
dense-equivalent count, as papers count BMN-based models): the BM layer
and its 3-D convolution as mmaction2's BMN computes them, the sampling
mask product ``B x C x T`` times ``T x (N * D * T)`` and the 3-D conv
over the N samples (:func:`bm_layer_dense_flops`). Layers that the RRM
refiner and the RCL head apply with their weights split (so that parts
are computed once) are counted as applied, by :func:`rrm_functional_flops`
and :func:`rcl_head_flops`, in both counts.
"""
from typing import Callable, Dict, List

import torch
import torch.nn as nn
from torch import Tensor

from rcl_mm.models.backbones.bmn import BMNBackbone
from rcl_mm.models.heads.rcl_head import RCLHead
from rcl_mm.models.necks.rrm_refiner import RRMRefiner
from rcl_mm.ops.car_align import _merge_bins


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
    _, weight = _merge_bins(backbone.grid_sample_index[None],
                            backbone.grid_sample_weight[None])
    taps = int((weight != 0).sum())
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


def _small_block_functional_flops(refiner: RRMRefiner, batch: int,
                                  coarse: int, iters: int) -> int:
    """The ``'raft_small'`` block's convolutions applied in parts, on
    ``coarse`` pooled cells: the encoder's fusing conv (its F-branch
    columns once, its map-branch columns every iteration) and the GRU
    (its context columns once, hidden state and encoder output every
    iteration). Its other layers are modules, counted by their hooks."""
    block = refiner.update_block
    fuse = block.encoder.conv
    fuse_kernel = fuse.kernel_size[0] * fuse.kernel_size[1]
    map_branch = block.encoder.convm2.out_channels
    feat_branch = fuse.in_channels - map_branch
    fuse_flops = coarse * fuse_kernel * fuse.out_channels * (
        feat_branch + iters * map_branch)
    gru = block.gru
    kernel = gru.convz.kernel_size[0] * gru.convz.kernel_size[1]
    gru_flops = coarse * kernel * 3 * refiner.hdim * (
        refiner.cdim + iters * (refiner.hdim + block.encoder.output_channels))
    return batch * (fuse_flops + gru_flops)


def rrm_functional_flops(refiner: RRMRefiner, feat: Tensor,
                         iters: int) -> int:
    """FLOPs of the convolutions :class:`RRMRefiner` applies in parts.

    The ConvGRU's three 3x3 convolutions run on the pooled grid: their
    fixed input channels (F-derived features and context) once
    (:meth:`ConvGRU.static_terms`), the hidden state and the encoded map
    every iteration (:meth:`ConvGRU.step`). The delta head's first 1x1
    conv: its hidden-state part on the pooled grid before upsampling, its
    map part on the full grid every iteration, its fine-feature part once;
    its last 1x1 conv on the full grid every iteration. The fine features'
    1x1 conv (``fine_feat``) once. The refiner's other layers are
    modules, counted by their hooks; the upsampling (interpolation) is not
    counted.

    That is the ``'light'`` block; for ``'raft_small'`` see
    :func:`_small_block_functional_flops` (its bilinear upsampling of
    ``delta_t`` is not counted either).

    Args:
        refiner (RRMRefiner): The refiner.
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
    stride = refiner.stride
    coarse = -(-duration // stride) * -(-temporal // stride)
    if refiner.block_type == 'raft_small':
        return _small_block_functional_flops(refiner, batch, coarse, iters)
    cells = duration * temporal
    gru = refiner.gru
    kernel = gru.convz.kernel_size[0] * gru.convz.kernel_size[1]
    map_channels = refiner.map_enc[0].out_channels
    static_channels = gru.convz.in_channels - refiner.hdim - map_channels
    gru_flops = coarse * kernel * 3 * refiner.hdim * (
        static_channels + iters * (refiner.hdim + map_channels))
    head = refiner.delta_head[0]
    hidden_channels, map_part, fine_channels = refiner.head_input_split()
    # The map part (2 -> H) and the last layer (H -> 2) per cell.
    per_iter = coarse * hidden_channels + cells * (map_part + 2)
    head_flops = head.out_channels * (cells * fine_channels +
                                      iters * per_iter)
    fine = refiner.fine_feat[0]
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


def _count_head_calls(head: RCLHead,
                      add: Callable[[int], None]) -> List[str]:
    """Wrap the head's functional methods (instance attributes) so that
    each call adds its :func:`rcl_head_flops`; returns the names set."""

    def cell_terms(feat, _fn=head.cell_terms):
        add(rcl_head_flops(head, feat.size(0),
                           terms_cells=feat[0, 0].numel()))
        return _fn(feat)

    def grid_logits(terms, *args, _fn=head.grid_logits, **kwargs):
        add(rcl_head_flops(head, terms.size(0), cells=terms[0, 0].numel()))
        return _fn(terms, *args, **kwargs)

    def segment_logits(terms, segments, *args, _fn=head.segment_logits,
                       **kwargs):
        add(rcl_head_flops(head, terms.size(0), segments=segments.size(1)))
        return _fn(terms, segments, *args, **kwargs)

    wrappers = dict(cell_terms=cell_terms, grid_logits=grid_logits,
                    segment_logits=segment_logits)
    for name, fn in wrappers.items():
        object.__setattr__(head, name, fn)
    return list(wrappers)


def _count_shared_reads(localizer: nn.Module,
                        add: Callable[[int], None]) -> List[str]:
    """Wrap an RCL localizer's ``read_features``: where it computes the
    head's cell terms in the product it shares with the refiner (not by
    :meth:`RCLHead.cell_terms`), add their FLOPs; returns the names set.
    The refiner's fine features are counted with the refiner either way
    (:func:`rrm_functional_flops`)."""

    def read_features(feat, *args, _fn=localizer.read_features, **kwargs):
        terms, refiner_features = _fn(feat, *args, **kwargs)
        if refiner_features is not None:
            add(rcl_head_flops(localizer.head, feat.size(0),
                               terms_cells=feat[0, 0].numel()))
        return terms, refiner_features

    object.__setattr__(localizer, 'read_features', read_features)
    return ['read_features']


BM_COUNTS = ('fused', 'dense')


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
        ``model`` (e.g. ``backbone``, ``head``, ``refiner``).
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
    handles = []
    prefix = {}
    for child_name, child in model.named_children():
        for module in child.modules():
            prefix[id(module)] = child_name

    def add(module, value, which=BM_COUNTS):
        name = prefix.get(id(module), 'other')
        for key in which:
            counts[key][name] = counts[key].get(name, 0) + int(value)

    def conv_hook(module, args, output):
        add(module, _conv_flops(module, output))

    def linear_hook(module, args, output):
        add(module, output.numel() * module.in_features)

    def bm_hook(module, args, output):
        batch = args[0].size(0)
        add(module, bm_layer_flops(module, batch), ('fused', ))
        add(module, bm_layer_dense_flops(module, batch), ('dense', ))

    def rrm_hook(module, args, output):
        add(module, rrm_functional_flops(module, args[0], len(output)))

    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
        elif isinstance(module, BMNBackbone):
            handles.append(module.register_forward_hook(bm_hook))
        elif isinstance(module, RRMRefiner):
            handles.append(module.register_forward_hook(rrm_hook))
    wrapped = []
    for module in model.modules():
        if isinstance(module, RCLHead):
            wrap, counted_as = _count_head_calls, module
        elif isinstance(getattr(module, 'head', None),
                        RCLHead) and hasattr(module, 'read_features'):
            wrap, counted_as = _count_shared_reads, module.head
        else:
            continue
        # Methods set on the instance before (e.g. by a test) come back.
        own = dict(vars(module))
        names = wrap(module, lambda value, m=counted_as: add(m, value))
        wrapped.append((module, names, own))
    try:
        model(inputs, **forward_kwargs)
    finally:
        for handle in handles:
            handle.remove()
        for module, names, own in wrapped:
            for name in names:
                if name in own:
                    object.__setattr__(module, name, own[name])
                else:
                    object.__delattr__(module, name)
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
