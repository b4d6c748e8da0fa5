# Copyright (c) rcl_mm contributors. All rights reserved.
"""1x1 convolutions as batched matrix products."""
from typing import Optional, Tuple

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


def _channels_last(x: Tensor) -> bool:
    """Whether ``x`` (B x C x H x W) is laid out as B x H x W x C."""
    return (not x.is_contiguous()
            and x.is_contiguous(memory_format=torch.channels_last))


def _cols_product(x: Tensor, cols: Tensor, channels_last: bool) -> Tensor:
    """``x[b, c] @ cols.T`` for every batch element and channel of a
    B x C x H x W map, as the left operand of the row product:
    ``B x H x (w * C)`` in the channels-last layout (``x`` read as
    B x H x W x C, no copy of a channels-last map), ``(B * C) x H x w``
    otherwise."""
    batch, channels, height, width = x.shape
    if channels_last:
        return torch.matmul(cols, x.permute(0, 2, 3, 1)).reshape(
            batch, height, -1)
    return torch.matmul(x.reshape(batch * channels, height, width),
                        cols.t())


def _separable(x: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """``rows @ x[b, c] @ cols.T`` for every batch element and channel of
    a B x C x H x W map, read and written in its own layout."""
    batch, channels = x.shape[:2]
    channels_last = _channels_last(x)
    out = torch.matmul(rows, _cols_product(x, cols, channels_last))
    if channels_last:
        return out.view(batch, rows.size(0), cols.size(0),
                        channels).permute(0, 3, 1, 2)
    return out.view(batch, channels, rows.size(0), cols.size(0))


def _add_separable_(out: Tensor, x: Tensor, rows: Tensor,
                    cols: Tensor) -> Tensor:
    """``out += _separable(x, rows, cols)`` in place, in ``out``'s
    layout, the row product accumulating into ``out`` directly."""
    batch, channels, height, width = out.shape
    channels_last = _channels_last(out)
    spread = _cols_product(x, cols, channels_last)
    if channels_last:
        target = out.permute(0, 2, 3, 1).view(batch, height, -1)
    else:
        target = out.view(batch * channels, height, width)
    target.baddbmm_(rows.expand(spread.size(0), -1, -1), spread)
    return out


class _ProjectAndPool(torch.autograd.Function):
    """See :func:`project_and_pool`."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Optional[Tensor],
                pool_rows: Tensor, pool_cols: Tensor):
        ctx.save_for_backward(x, weight, pool_rows, pool_cols)
        ctx.has_bias = bias is not None
        return (pointwise_conv(x, weight, bias),
                _separable(x, pool_rows, pool_cols))

    @staticmethod
    def backward(ctx, grad_projected: Optional[Tensor],
                 grad_pooled: Optional[Tensor]):
        x, weight, pool_rows, pool_cols = ctx.saved_tensors
        batch = x.size(0)
        needs_x, needs_weight, needs_bias = ctx.needs_input_grad[:3]
        grad_x = grad_weight = grad_bias = None
        flat_grad = None
        if grad_projected is not None:
            flat_grad = grad_projected.reshape(batch, weight.size(0), -1)
        if needs_x:
            # Both gradients into one buffer, in x's layout: the product
            # writes it, the pooling's transpose adds to it in place.
            if flat_grad is not None:
                if _channels_last(x):
                    grad_x = torch.bmm(flat_grad.transpose(1, 2),
                                       weight.expand(batch, -1, -1))
                    grad_x = grad_x.view(batch, *x.shape[2:], -1).permute(
                        0, 3, 1, 2)
                else:
                    grad_x = torch.bmm(weight.t().expand(batch, -1, -1),
                                       flat_grad).view_as(x)
            if grad_pooled is not None:
                if grad_x is None:
                    grad_x = _separable(grad_pooled.contiguous(
                        memory_format=torch.channels_last
                        if _channels_last(x) else torch.contiguous_format),
                        pool_rows.t(), pool_cols.t())
                else:
                    _add_separable_(grad_x, grad_pooled, pool_rows.t(),
                                    pool_cols.t())
            if grad_x is None:
                grad_x = torch.zeros_like(x)
        if flat_grad is not None:
            if needs_weight:
                grad_weight = torch.bmm(flat_grad,
                                        x.flatten(2).transpose(1, 2)).sum(0)
            if needs_bias and ctx.has_bias:
                grad_bias = flat_grad.sum((0, 2))
        elif needs_weight:
            grad_weight = torch.zeros_like(weight)
        return grad_x, grad_weight, grad_bias, None, None


def project_and_pool(x: Tensor, weight: Tensor, bias: Optional[Tensor],
                     pool_rows: Tensor,
                     pool_cols: Tensor) -> Tuple[Tensor, Tensor]:
    """A 1x1 convolution and a separable pooling of the same map.

    ``pointwise_conv(x, weight, bias)`` and ``pool_rows @ x @ pool_cols.T``
    (per batch element and channel), with one backward pass for both:
    the gradient of ``x`` is written once by the product and the pooling's
    part is added to it in place. Two consumers of a large map (e.g. the
    RCL head's cell terms, the RRM neck's fine features and its pooled
    input, all read from F) otherwise cost a gradient buffer each, a
    zero fill for the pooling's and a sum of them. A channels-last map
    (as convolutions hand it on, on the CPU) is read and gets its gradient
    in that layout.

    Args:
        x (Tensor): ``B x C x H x W``.
        weight (Tensor): ``O x C`` (or a 1x1 conv weight ``O x C x 1 x 1``).
        bias (Tensor, optional): ``O``.
        pool_rows (Tensor): ``h x H`` pooling of the rows, e.g.
            :func:`average_pool_matrix`.
        pool_cols (Tensor): ``w x W`` pooling of the columns.

    Returns:
        tuple[Tensor, Tensor]: ``B x O x H x W`` and ``B x C x h x w``.
    """
    if x.dim() != 4:
        raise ValueError(f'x must be B x C x H x W, got {tuple(x.shape)}')
    weight = weight.reshape(weight.size(0), -1)
    if pool_rows.size(1) != x.size(2) or pool_cols.size(1) != x.size(3):
        raise ValueError(
            f'pooling matrices {tuple(pool_rows.shape)} and '
            f'{tuple(pool_cols.shape)} do not read a {x.size(2)} x '
            f'{x.size(3)} map')
    if torch.is_autocast_enabled(x.device.type):
        # Autocast picks each product's dtype; the plain operations keep
        # its choices in the backward pass too.
        return (pointwise_conv(x, weight, bias),
                _separable(x, pool_rows.to(x.dtype), pool_cols.to(x.dtype)))
    return _ProjectAndPool.apply(x, weight, bias, pool_rows.to(x.dtype),
                                 pool_cols.to(x.dtype))


def average_pool_matrix(out_size: int,
                        in_size: int,
                        stride: int,
                        device: torch.device = None) -> Tensor:
    """``avg_pool`` with kernel = stride and ``ceil_mode=True`` along one
    axis, as an ``out_size x in_size`` matrix.

    Window ``i`` covers inputs ``[i * stride, min((i + 1) * stride,
    in_size))`` and averages them (a last, partial window divides by its
    own length, as ``F.avg_pool2d`` does without padding). Pooling a
    ``... x H x W`` tensor is then ``P_H @ x @ P_W.T``.

    Args:
        out_size (int): ``ceil(in_size / stride)``.
        in_size (int): Input length.
        stride (int): Window and step.
        device (torch.device, optional): Device of the matrix.

    Returns:
        Tensor: float32 ``out_size x in_size``, rows summing to 1.
    """
    if out_size != -(-in_size // stride):
        raise ValueError(f'{in_size} inputs pooled by {stride} give '
                         f'{-(-in_size // stride)} outputs, not {out_size}')
    window = torch.arange(in_size, device=device) // stride
    matrix = (window[None, :] == torch.arange(out_size,
                                              device=device)[:, None])
    matrix = matrix.float()
    return matrix / matrix.sum(1, keepdim=True)
