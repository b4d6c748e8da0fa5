# Copyright (c) rcl_mm contributors. All rights reserved.
import pytest
import torch
import torch.nn.functional as F

from rcl_mm.ops import pointwise_conv


@pytest.mark.parametrize('shape', [(2, 5, 3, 4), (3, 5, 7)])
@pytest.mark.parametrize('with_bias', [True, False])
def test_pointwise_conv_is_a_1x1_conv(shape, with_bias):
    """Values and gradients of conv1d / conv2d with a 1x1 kernel."""
    torch.manual_seed(0)
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(4, 5, *([1] * (len(shape) - 2)),
                         dtype=torch.float64, requires_grad=True)
    bias = torch.randn(4, dtype=torch.float64,
                       requires_grad=True) if with_bias else None
    conv = F.conv2d if len(shape) == 4 else F.conv1d
    want = conv(x, weight, bias)
    got = pointwise_conv(x, weight, bias)
    torch.testing.assert_close(got, want)
    inputs = [x, weight] + ([bias] if with_bias else [])
    probe = torch.randn_like(want)
    for g, w in zip(torch.autograd.grad((got * probe).sum(), inputs),
                    torch.autograd.grad((want * probe).sum(), inputs)):
        torch.testing.assert_close(g, w)
    # An O x C weight is the same as the conv weight.
    torch.testing.assert_close(
        pointwise_conv(x, weight.flatten(1), bias), want)
