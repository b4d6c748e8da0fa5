# Copyright (c) rcl_mm contributors. All rights reserved.
"""1x1 convolutions as batched matrix products."""
from typing import Optional

import torch
from torch import Tensor


def pointwise_conv(x: Tensor,
                   weight: Tensor,
                   bias: Optional[Tensor] = None) -> Tensor:
    """A 1x1 convolution of channel-first features, one batched product.

    The values of ``conv1d`` / ``conv2d`` with a 1x1 kernel, computed as
    ``W @ x`` per batch element on ``x`` viewed as ``B x C x cells``. On the
    CPU this is about twice as fast as the convolution for maps of many
    cells with few channels (e.g. 128 -> 66 on 8 x 100 x 100, forward and
    backward), which reorders its input to and from a blocked layout.

    Args:
        x (Tensor): ``B x C x *S`` features (any trailing shape ``S``).
        weight (Tensor): ``O x C``, or a 1x1 conv weight ``O x C x 1 ...``.
        bias (Tensor, optional): ``O``.

    Returns:
        Tensor: ``B x O x *S``.
    """
    batch = x.size(0)
    weight = weight.reshape(weight.size(0), -1).expand(batch, -1, -1)
    flat = x.flatten(2)
    if bias is None:
        out = torch.bmm(weight, flat)
    else:
        out = torch.baddbmm(bias.view(1, -1, 1), weight, flat)
    return out.view(batch, -1, *x.shape[2:])
