# Copyright (c) rcl_mm contributors. All rights reserved.
"""FLOP counting of the localizers, with a handle for the fused BM layer.

mmengine's ``get_model_complexity_info`` traces the model with
``torch.jit``; our CARAlign op builds its sampling plan in Python from
tensor values (tile widths, bag offsets), which a trace cannot follow, so
it fails on every BMN-based model. We count with forward hooks instead,
in mmengine's (fvcore's) convention: one multiply-accumulate is one FLOP,
convolutions and linear layers are counted, element-wise operations
(activations, GRU gating, pooling, interpolation) are not.

The fused BM layer (:meth:`BMNBackbone.boundary_matching`) is counted as
what it computes: the projection ``bmm`` (``B * T * C * O * N``) plus the
tap sums (``B * O * taps``, ``taps`` = the non-zero weights of the merged
grid plan, at most ``2 * S`` per bin and anchor). The RRM refiner's
functional head convolution is counted by :func:`rrm_head_flops`.
"""
from typing import Dict

import torch
import torch.nn as nn
from torch import Tensor

from rcl_mm.models.backbones.bmn import BMNBackbone
from rcl_mm.models.heads.rrm_refiner import RRMRefiner
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


def rrm_head_flops(refiner: RRMRefiner, feat: Tensor, iters: int) -> int:
    """FLOPs of the delta head's first 1x1 conv, which
    :class:`RRMRefiner` applies functionally in three parts.

    Its hidden-state part runs on the pooled grid before upsampling, its
    map part on the full grid every iteration, its fine-feature part once.

    Args:
        refiner (RRMRefiner): The refiner.
        feat (Tensor): Its ``B x C x D x T`` input.
        iters (int): Iterations run.

    Returns:
        int: ``B * H * (D * T * F + iters * (Dc * Tc * hdim + D * T * 2))``
        with ``H`` head channels, ``F`` fine-feature channels and the
        pooled grid ``Dc x Tc``; 0 for no iterations.
    """
    if iters == 0:
        return 0
    batch, _, duration, temporal = feat.shape
    head = refiner.delta_head[0]
    stride = refiner.stride
    coarse = -(-duration // stride) * -(-temporal // stride)
    cells = duration * temporal
    hidden_channels, map_channels, fine_channels = refiner.head_input_split()
    per_iter = coarse * hidden_channels + cells * map_channels
    return batch * head.out_channels * (cells * fine_channels +
                                        iters * per_iter)


@torch.no_grad()
def count_flops(model: nn.Module, inputs: Tensor,
                **forward_kwargs) -> Dict[str, int]:
    """FLOPs of one forward pass, total and per top-level child.

    Args:
        model (nn.Module): Any model; BMN backbones inside it are counted
            with :func:`bm_layer_flops`.
        inputs (Tensor): The input batch.
        **forward_kwargs: Passed to ``model(inputs, ...)``.

    Returns:
        dict[str, int]: ``total`` and one entry per named child of
        ``model`` (e.g. ``backbone``, ``head``, ``refiner``).
    """
    counts = {}
    handles = []
    prefix = {}
    for child_name, child in model.named_children():
        for module in child.modules():
            prefix[id(module)] = child_name

    def add(module, value):
        name = prefix.get(id(module), 'other')
        counts[name] = counts.get(name, 0) + int(value)

    def conv_hook(module, args, output):
        add(module, _conv_flops(module, output))

    def linear_hook(module, args, output):
        add(module, output.numel() * module.in_features)

    def bm_hook(module, args, output):
        add(module, bm_layer_flops(module, args[0].size(0)))

    def rrm_hook(module, args, output):
        add(module, rrm_head_flops(module, args[0], len(output)))

    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
        elif isinstance(module, BMNBackbone):
            handles.append(module.register_forward_hook(bm_hook))
        elif isinstance(module, RRMRefiner):
            handles.append(module.register_forward_hook(rrm_hook))
    try:
        model(inputs, **forward_kwargs)
    finally:
        for handle in handles:
            handle.remove()
    counts['total'] = sum(counts.values())
    return counts


def parameter_count(model: nn.Module) -> Dict[str, int]:
    """Parameters, total and per top-level child."""
    counts = {
        name: sum(p.numel() for p in child.parameters())
        for name, child in model.named_children()
    }
    counts['total'] = sum(p.numel() for p in model.parameters())
    return counts
