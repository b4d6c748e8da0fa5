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


def test_average_pool_matrix_hand_case():
    """Windows of 3 over 5 inputs: a full window, then a partial one that
    averages its own two inputs."""
    from rcl_mm.ops import average_pool_matrix
    want = torch.tensor([[1 / 3, 1 / 3, 1 / 3, 0, 0], [0, 0, 0, .5, .5]])
    torch.testing.assert_close(average_pool_matrix(2, 5, 3), want)
    with pytest.raises(ValueError, match='5 inputs pooled by 3 give 2'):
        average_pool_matrix(3, 5, 3)


@pytest.mark.parametrize('size, stride', [((100, 100), 6), ((7, 9), 2),
                                          ((5, 4), 1), ((9, 11), 3)])
def test_average_pool_matrix_is_avg_pool2d(size, stride):
    from rcl_mm.ops import average_pool_matrix
    x = torch.randn(2, 3, *size, dtype=torch.float64)
    want = F.avg_pool2d(x, stride, ceil_mode=True)
    rows = average_pool_matrix(want.size(2), size[0], stride).double()
    cols = average_pool_matrix(want.size(3), size[1], stride).double()
    torch.testing.assert_close(rows @ x @ cols.t(), want)


def _project_and_pool_case(with_bias, dtype=torch.float64,
                           layout=torch.contiguous_format):
    from rcl_mm.ops import average_pool_matrix
    torch.manual_seed(0)
    x = torch.randn(2, 5, 7, 9, dtype=dtype).contiguous(
        memory_format=layout).requires_grad_()
    weight = torch.randn(4, 5, dtype=dtype, requires_grad=True)
    bias = torch.randn(4, dtype=dtype,
                       requires_grad=True) if with_bias else None
    rows = average_pool_matrix(4, 7, 2)
    cols = average_pool_matrix(3, 9, 3)
    return x, weight, bias, rows, cols


LAYOUTS = [torch.contiguous_format, torch.channels_last]


@pytest.mark.parametrize('with_bias', [True, False])
@pytest.mark.parametrize('used', ['both', 'projected', 'pooled'])
@pytest.mark.parametrize('layout', LAYOUTS)
def test_project_and_pool_is_the_two_operations(with_bias, used, layout):
    """Values and gradients of pointwise_conv and avg_pool2d of the same
    map, also when only one output reaches the loss; a channels-last map
    (what convolutions hand on, on the CPU) gets its gradient in its own
    layout."""
    from rcl_mm.ops import project_and_pool
    x, weight, bias, rows, cols = _project_and_pool_case(
        with_bias, layout=layout)
    projected, pooled = project_and_pool(x, weight, bias, rows, cols)
    want_projected = F.conv2d(x, weight[..., None, None], bias)
    want_pooled = F.avg_pool2d(x, (2, 3), ceil_mode=True)
    torch.testing.assert_close(projected, want_projected)
    torch.testing.assert_close(pooled, want_pooled)
    probe_projected = torch.randn_like(projected)
    # Contiguous: for a channels-last map, a gradient in the other layout.
    probe_pooled = torch.randn(pooled.shape, dtype=pooled.dtype)

    def objective(proj, pool):
        parts = {'projected': (proj * probe_projected).sum(),
                 'pooled': (pool * probe_pooled).sum()}
        return sum(parts.values()) if used == 'both' else parts[used]

    inputs = [x, weight] + ([bias] if with_bias else [])
    got = torch.autograd.grad(objective(projected, pooled), inputs,
                              allow_unused=True)
    want = torch.autograd.grad(objective(want_projected, want_pooled),
                               inputs, allow_unused=True)
    for g, w, param in zip(got, want, inputs):
        if w is None:
            # The pooled map alone: zero gradients of the projection.
            assert g is None or not g.any()
        else:
            torch.testing.assert_close(g, w)
    assert got[0].is_contiguous(memory_format=layout)


@pytest.mark.parametrize('layout', LAYOUTS)
def test_project_and_pool_gradcheck(layout):
    from rcl_mm.ops import project_and_pool
    x, weight, bias, rows, cols = _project_and_pool_case(True,
                                                         layout=layout)
    assert torch.autograd.gradcheck(
        lambda *a: project_and_pool(*a, rows.double(), cols.double()),
        (x, weight, bias))


def test_project_and_pool_under_autocast():
    """bfloat16 autocast: the plain operations, autocast's dtypes, and a
    backward pass that reaches float32 parameters."""
    from rcl_mm.ops import project_and_pool
    x, weight, bias, rows, cols = _project_and_pool_case(
        True, torch.float32)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        projected, pooled = project_and_pool(x, weight, bias, rows, cols)
    assert projected.dtype == torch.bfloat16
    (projected.float().sum() + pooled.float().sum()).backward()
    assert weight.grad.dtype == torch.float32 and x.grad.dtype == x.dtype
    torch.testing.assert_close(projected.float(),
                               F.conv2d(x, weight[..., None, None], bias),
                               atol=0.1, rtol=0.02)


def test_project_and_pool_rejects_mismatched_pooling():
    from rcl_mm.ops import project_and_pool
    x, weight, bias, rows, cols = _project_and_pool_case(True)
    with pytest.raises(ValueError, match=r'do not read a 7 x 9 map'):
        project_and_pool(x, weight, bias, cols, rows)
