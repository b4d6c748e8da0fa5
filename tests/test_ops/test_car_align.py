# Copyright (c) rcl_mm contributors. All rights reserved.
import math
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rcl_mm.ops import (CARAlign, bmn_grid_segments, car_align,
                        car_align_sampling, car_align_with_sampling)
from rcl_mm.utils.compat import patch_missing_drn

patch_missing_drn()  # mmaction.models imports a module its wheel lacks
from mmaction.models.localizers.bmn import BMN  # noqa: E402

# The submodule, not the function of the same name that rcl_mm.ops exports.
car_align_module = sys.modules['rcl_mm.ops.car_align']

from devices import DEVICES  # noqa: E402
from ops_helpers import (assert_equals_gather,  # noqa: E402
                         assert_gradcheck_and_bfloat16)



# Float32 parity on CUDA needs cuDNN and cuBLAS without TF32.
pytestmark = pytest.mark.usefixtures('exact_float32')


# One channel whose features are powers of ten, so that each expected value
# below shows which features a bin read and with what weight.
X_POW10 = torch.tensor([[[1., 10., 100., 1000.]]], dtype=torch.float64)


def bmn_masks(segments, temporal_dim, num_bins, points_per_bin, ratio=0.5):
    """Per-segment T x N masks from mmaction2's own sampling code.

    BMN builds each anchor's mask from its widened region with
    ``_get_interp1d_bin_mask``; the same call serves any real segment.
    """
    masks = []
    for start, end in segments.tolist():
        end = max(end, start)  # the documented rule for inverted segments
        length = float(end - start) + 1
        masks.append(
            BMN._get_interp1d_bin_mask(start - length * ratio,
                                       end + length * ratio, temporal_dim,
                                       num_bins, points_per_bin))
    return torch.from_numpy(np.stack(masks)) if masks else torch.zeros(
        0, temporal_dim, num_bins, dtype=torch.float64)


def reference(x, segments, num_bins, points_per_bin, ratio=0.5):
    """B x C x N x K from mmaction2's masks (segments shared or per batch)."""
    if segments.dim() == 2:
        segments = segments.expand(x.size(0), -1, -1)
    outs = []
    for b in range(x.size(0)):
        masks = bmn_masks(segments[b].cpu(), x.size(2), num_bins,
                          points_per_bin, ratio)
        masks = masks.to(x.device, x.dtype)
        outs.append(torch.einsum('ct,ktn->cnk', x[b], masks))
    return torch.stack(outs)


def bmn_dense_mask(temporal_dim, num_bins, points_per_bin, dtype):
    """mmaction2's T x (N * D * T) ``sample_mask``, D = T.

    float32 comes from ``BMN._get_interp1d_mask`` itself (which casts); for
    float64 the same loop runs without the cast.
    """
    if dtype == torch.float32:
        bmn = SimpleNamespace(
            tscale=temporal_dim,
            boundary_ratio=0.5,
            num_samples=num_bins,
            num_samples_per_bin=points_per_bin,
            _get_interp1d_bin_mask=BMN._get_interp1d_bin_mask)
        BMN._get_interp1d_mask(bmn)
        return bmn.sample_mask.data
    mask = torch.zeros(
        temporal_dim, num_bins, temporal_dim, temporal_dim, dtype=dtype)
    for t in range(temporal_dim):
        for d in range(temporal_dim - t):
            mask[..., d, t] = torch.from_numpy(
                BMN._get_interp1d_bin_mask(t - (d + 1) * 0.5,
                                           t + d + (d + 1) * 0.5, temporal_dim,
                                           num_bins, points_per_bin))
    return mask.view(temporal_dim, -1)


def test_hand_computed_plan_and_output():
    # T = 4, N = 2, S = 2, r = 0.5, segment (1.25, 1.5): L = 1.25, region
    # [1.25 - 0.625, 1.5 + 0.625] = [0.625, 2.125], step 1.5 / 3 = 0.5,
    # points 0.625, 1.125 | 1.625, 2.125.
    segment = torch.tensor([[1.25, 1.5]], dtype=torch.float64)
    index, weight = car_align_sampling(segment, 4, 2, 2)
    # per point: (trunc, ceil) with weights (1 - frac, frac) / S
    assert index.tolist() == [[[0, 1, 1, 2], [1, 2, 2, 3]]]
    torch.testing.assert_close(
        weight,
        torch.tensor(
            [[[0.375, 0.625, 0.875, 0.125], [0.375, 0.625, 0.875, 0.125]]],
            dtype=torch.float64) / 2)
    out = car_align(X_POW10, segment, 2, 2)
    # bin 0: (0.375 * 1 + 0.625 * 10 + 0.875 * 10 + 0.125 * 100) / 2
    #      = 0.1875 + 7.5 + 6.25 = 13.9375
    # bin 1: (0.375 * 10 + 0.625 * 100 + 0.875 * 100 + 0.125 * 1000) / 2
    #      = 1.875 + 75 + 62.5 = 139.375
    assert out.shape == (1, 1, 2, 1)
    torch.testing.assert_close(
        out.flatten(), torch.tensor([13.9375, 139.375], dtype=torch.float64))


@pytest.mark.parametrize(
    'segment, expected',
    [
        # (-0.25, 0): L = 1.25, points -0.875, -0.375 | 0.125, 0.625.
        # Points in (-1, 0) put all their weight on index 0: bin 0 = x0 = 1;
        # bin 1 = (0.875 x0 + 0.125 x1 + 0.375 x0 + 0.625 x1) / 2
        #       = 0.625 + 3.75 = 4.375.
        ((-0.25, 0.0), [1.0, 4.375]),
        # (-0.375, -0.125): points -1, -0.5 | 0, 0.5. -1 reads nothing:
        # bin 0 = (0 + x0) / 2 = 0.5; bin 1 = (x0 + 0.5 x0 + 0.5 x1) / 2
        #       = 0.75 + 2.5 = 3.25.
        ((-0.375, -0.125), [0.5, 3.25]),
        # (3.25, 3.5): points 2.625, 3.125 | 3.625, 4.125. Index 4 is
        # dropped, (3, 4) keeps only 1 - frac at 3:
        # bin 0 = (0.375 x2 + 0.625 x3 + 0.875 x3) / 2 = 18.75 + 750
        # bin 1 = (0.375 x3 + 0) / 2 = 187.5.
        ((3.25, 3.5), [768.75, 187.5]),
        # (-3, -2.75): points -3.625 .. -2.125, all <= -1: zeros.
        ((-3.0, -2.75), [0.0, 0.0]),
        # (7, 7.25): points 6.375 .. 7.875, all >= T: zeros.
        ((7.0, 7.25), [0.0, 0.0]),
    ])
def test_hand_computed_out_of_range(segment, expected):
    segments = torch.tensor([segment], dtype=torch.float64)
    out = car_align(X_POW10, segments, 2, 2)
    torch.testing.assert_close(out.flatten(),
                               torch.tensor(expected, dtype=torch.float64))
    torch.testing.assert_close(out, reference(X_POW10, segments, 2, 2))


def test_modf_rule_in_plan():
    # Point -0.875 (first point of the segment (-0.25, 0)): math.modf gives
    # frac = -0.875, trunc = -0.0, so both taps sit on index 0 with weights
    # (1 + 0.875, -0.875) / S, summing to 1 / S.
    assert math.modf(-0.875) == (-0.875, -0.0)
    index, weight = car_align_sampling(torch.tensor([[-0.25, 0.0]]), 4, 2, 2)
    assert index[0, 0, :2].tolist() == [0, 0]
    assert weight[0, 0, :2].tolist() == [0.9375, -0.4375]


def test_inverted_segment_reads_its_start():
    x = torch.randn(2, 3, 10, dtype=torch.float64)
    inverted = torch.tensor([[6.5, 2.0], [3.0, 3.0 - 1e-3]],
                            dtype=torch.float64)
    point = torch.tensor([[6.5, 6.5], [3.0, 3.0]], dtype=torch.float64)
    torch.testing.assert_close(
        car_align(x, inverted, 4, 3), car_align(x, point, 4, 3))
    plan_inv = car_align_sampling(inverted, 10, 4, 3)
    plan_point = car_align_sampling(point, 10, 4, 3)
    assert torch.equal(plan_inv[0], plan_point[0])
    assert torch.equal(plan_inv[1], plan_point[1])


def test_indices_always_in_range():
    temporal_dim = 8
    generator = torch.Generator().manual_seed(0)
    segments = torch.rand(3, 50, 2, generator=generator) * 60 - 30
    segments = torch.cat([
        segments,
        torch.tensor([[[float('nan'), 2.], [1., float('inf')]]] * 3)
    ], 1)
    index, weight = car_align_sampling(segments, temporal_dim, 5, 3)
    assert index.shape == (3, 52, 5, 6) and index.dtype == torch.long
    assert index.min() >= 0 and index.max() <= temporal_dim - 1
    # non-finite coordinates read nothing
    assert torch.count_nonzero(weight[:, 50:]) == 0
    # a point's taps sum to 1 / S inside the range, less where one fell
    # outside, so a bin's weights sum to a value in [0, 1]
    bin_sums = weight.sum(-1)
    assert torch.all(bin_sums >= -1e-6) and torch.all(bin_sums <= 1 + 1e-6)
    assert torch.any(bin_sums < 0.99) and torch.any(bin_sums > 0.99)
    x = torch.randn(3, 2, temporal_dim, dtype=torch.float64)
    finite = segments[:, :50].double()
    torch.testing.assert_close(
        car_align(x, finite, 5, 3), reference(x, finite, 5, 3))


def test_wholly_outside_gives_zeros_and_zero_grad():
    x = torch.randn(2, 3, 6, requires_grad=True)
    proj = torch.randn(4, 3, 2, requires_grad=True)
    # widened regions [-24.5, -7.5], [10, 17] and [29.5, 70.5] miss [0, 5]
    segments = torch.tensor([[-20., -12.], [12., 15.], [40., 60.]])
    out = car_align(x, segments, 2, 3, proj_weight=proj)
    assert out.shape == (2, 4, 3)
    assert torch.count_nonzero(out) == 0
    out.sum().backward()
    assert torch.count_nonzero(x.grad) == 0
    assert torch.count_nonzero(proj.grad) == 0


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('dtype, atol', [(torch.float32, 1e-5),
                                         (torch.float64, 1e-12)])
def test_parity_with_mmaction2_bm_layer(device, dtype, atol):
    temporal_dim, num_bins, points = 12, 4, 3
    channels, out_channels, batch = 5, 6, 2
    mask = bmn_dense_mask(temporal_dim, num_bins, points, dtype).to(device)
    segments, flat_index = bmn_grid_segments(
        temporal_dim, dtype=dtype, device=device)
    assert segments.shape == (temporal_dim * (temporal_dim + 1) // 2, 2)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(
        batch, channels, temporal_dim, generator=generator,
        dtype=dtype).to(device)
    proj = torch.randn(
        out_channels,
        channels,
        num_bins,
        1,
        1,
        generator=generator,
        dtype=dtype).to(device)
    # mmaction2's BMN._boundary_matching_layer followed by x_3d_p's conv3d
    dense = torch.matmul(x, mask).view(batch, channels, num_bins, temporal_dim,
                                       temporal_dim)
    expected = dense.flatten(3)[..., flat_index]
    expected_proj = F.conv3d(dense, proj).flatten(2)[..., flat_index]

    align = CARAlign(num_bins, points)
    torch.testing.assert_close(align(x, segments), expected, atol=atol, rtol=0)
    torch.testing.assert_close(
        align(x, segments, proj.flatten(2)), expected_proj, atol=atol, rtol=0)
    # the conv3d weight is accepted as it is, and per-batch segments too
    torch.testing.assert_close(
        align(x, segments.expand(batch, -1, -1), proj),
        expected_proj,
        atol=atol,
        rtol=0)
    # BMN's anchors with t + d > T - 1 read nothing
    invalid = torch.ones(temporal_dim**2, dtype=torch.bool, device=device)
    invalid[flat_index] = False
    assert torch.count_nonzero(dense.flatten(3)[..., invalid]) == 0


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('project', [False, True])
def test_many_tiles_match_dense_values_and_grads(device, project):
    # 300 channels span three CPU column tiles of 100.
    temporal_dim, num_bins, points = 9, 3, 2
    generator = torch.Generator().manual_seed(2)
    segments = (torch.rand(2, 7, 2, generator=generator) * 12 - 2).double()
    x = torch.randn(
        2,
        300 if not project else 4,
        temporal_dim,
        generator=generator,
        dtype=torch.float64).to(device).requires_grad_()
    proj = torch.randn(
        300, x.size(1), num_bins, generator=generator,
        dtype=torch.float64).to(device).requires_grad_()
    segments = segments.to(device)
    ref = reference(x, segments, num_bins, points)
    if project:
        ref = torch.einsum('ocn,bcnk->bok', proj, ref)
    out = car_align(
        x, segments, num_bins, points, proj_weight=proj if project else None)
    torch.testing.assert_close(out, ref, atol=1e-12, rtol=0)
    grad = torch.randn_like(out)
    inputs = (x, proj) if project else (x, )
    grads = torch.autograd.grad(out, inputs, grad)
    ref_grads = torch.autograd.grad(ref, inputs, grad)
    for got, want in zip(grads, ref_grads):
        torch.testing.assert_close(got, want, atol=1e-10, rtol=0)


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('shared', [True, False])
@pytest.mark.parametrize('project', [False, True])
def test_gradcheck(device, shared, project, monkeypatch):
    # tiles of at most two columns, so that the check covers several tiles
    monkeypatch.setattr(car_align_module, '_MIN_TILE', 1)
    monkeypatch.setattr(car_align_module, '_MAX_TILE', 2)
    generator = torch.Generator().manual_seed(3)
    batch, channels, temporal_dim, num_bins, points = 2, 3, 7, 2, 2
    segments = torch.rand(batch, 4, 2, generator=generator) * 9 - 1
    segments = segments[0] if shared else segments
    x = torch.randn(
        batch,
        channels,
        temporal_dim,
        generator=generator,
        dtype=torch.float64).to(device).requires_grad_()
    proj = torch.randn(
        3, channels, num_bins, generator=generator,
        dtype=torch.float64).to(device).requires_grad_()
    index, weight = car_align_sampling(
        segments.to(device).double(), temporal_dim, num_bins, points)
    if project:
        assert torch.autograd.gradcheck(
            lambda a, w: car_align_with_sampling(a, index, weight, w),
            (x, proj))
    else:
        assert torch.autograd.gradcheck(
            lambda a: car_align_with_sampling(a, index, weight), (x, ))


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_low_precision_close_to_float32(device, dtype):
    generator = torch.Generator().manual_seed(4)
    segments, _ = bmn_grid_segments(16, 8, device=device)
    x = torch.randn(2, 8, 16, generator=generator).to(device)
    proj = (torch.randn(12, 8, 4, generator=generator) * 0.3).to(device)
    ref = car_align(x, segments, 4, 3, proj_weight=proj)
    x_low = x.to(dtype).requires_grad_()
    proj_low = proj.to(dtype).requires_grad_()
    out = car_align(x_low, segments, 4, 3, proj_weight=proj_low)
    assert out.dtype == dtype
    torch.testing.assert_close(out.float(), ref, atol=0.05, rtol=0.03)
    sampled = car_align(x_low, segments, 4, 3)
    assert sampled.dtype == dtype
    torch.testing.assert_close(
        sampled.float(), car_align(x, segments, 4, 3), atol=0.02, rtol=0.02)
    # backward in low precision, against float32's
    x32, proj32 = x.clone().requires_grad_(), proj.clone().requires_grad_()
    grad = torch.randn(ref.shape, generator=generator).to(device)
    car_align(x32, segments, 4, 3, proj_weight=proj32).backward(grad)
    out.backward(grad.to(dtype))
    assert x_low.grad.dtype == dtype and proj_low.grad.dtype == dtype
    torch.testing.assert_close(
        x_low.grad.float(), x32.grad, atol=0.1, rtol=0.03)
    torch.testing.assert_close(
        proj_low.grad.float(), proj32.grad, atol=0.1, rtol=0.03)


def test_proj_weight_cast_to_input_dtype():
    x = torch.randn(1, 2, 5, dtype=torch.float64)
    proj = torch.randn(3, 2, 2)  # float32
    segments = torch.tensor([[0.5, 3.0]])
    out = car_align(x, segments, 2, 2, proj_weight=proj)
    assert out.dtype == torch.float64
    torch.testing.assert_close(
        out,
        torch.einsum('ocn,bcnk->bok', proj.double(),
                     reference(x, segments, 2, 2)))


def test_plan_broadcast_and_dtypes():
    segments = torch.tensor([[1, 4], [0, 0]])  # integer segments
    index, weight = car_align_sampling(segments, 6, 3, 2)
    assert index.shape == weight.shape == (2, 3, 4)
    assert weight.dtype == torch.get_default_dtype()
    half_plan = car_align_sampling(segments.half(), 6, 3, 2)
    assert half_plan[1].dtype == torch.float16
    x = torch.randn(3, 2, 6)
    expected = car_align(x, segments.float(), 3, 2)
    # a shared plan, a per-batch plan, and a shared index with per-batch
    # weights all give the same result
    per_batch = (index.expand(3, -1, -1, -1), weight.expand(3, -1, -1, -1))
    torch.testing.assert_close(
        car_align_with_sampling(x, *per_batch), expected)
    torch.testing.assert_close(
        car_align_with_sampling(x, index, per_batch[1]), expected)
    torch.testing.assert_close(
        car_align_with_sampling(x, index, weight), expected)


def test_empty_segments():
    x = torch.randn(2, 3, 5, requires_grad=True)
    proj = torch.randn(4, 3, 2, requires_grad=True)
    segments = torch.zeros(0, 2)
    assert car_align(x, segments, 2, 2).shape == (2, 3, 2, 0)
    out = car_align(x, segments, 2, 2, proj_weight=proj)
    assert out.shape == (2, 4, 0)
    (out.sum() + x.sum()).backward()
    torch.testing.assert_close(x.grad, torch.ones_like(x))


def test_invalid_arguments():
    x = torch.randn(1, 2, 5)
    with pytest.raises(ValueError, match='num_bins \\* points_per_bin'):
        car_align_sampling(torch.zeros(1, 2), 5, 1, 1)
    with pytest.raises(ValueError, match='\\(..., K, 2\\)'):
        car_align_sampling(torch.zeros(3), 5)
    with pytest.raises(ValueError, match='widen_ratio'):
        car_align_sampling(torch.zeros(1, 2), 5, widen_ratio=-0.1)
    index, weight = car_align_sampling(torch.tensor([[0., 9.]]), 10, 2, 2)
    with pytest.raises(IndexError, match='temporal_dim'):
        car_align_with_sampling(x, index, weight)
    index, weight = car_align_sampling(torch.tensor([[0., 2.]]), 5, 2, 2)
    with pytest.raises(ValueError, match='proj_weight must be O x 2 x 2'):
        car_align_with_sampling(x, index, weight, torch.zeros(3, 2, 5))
    with pytest.raises(ValueError, match='one shape'):
        car_align_with_sampling(x, index, weight[..., :2])


def test_module_repr_and_forward():
    align = CARAlign(num_bins=4, points_per_bin=2, widen_ratio=0.25)
    assert repr(align) == ('CARAlign(num_bins=4, points_per_bin=2, '
                           "widen_ratio=0.25, impl='gather')")
    x = torch.randn(2, 3, 8, dtype=torch.float64)
    segments = torch.tensor([[1.5, 4.0], [0.0, 7.0]], dtype=torch.float64)
    torch.testing.assert_close(
        align(x, segments), reference(x, segments, 4, 2, ratio=0.25))
    assert list(align.state_dict()) == []


def test_bmn_grid_segments_order():
    segments, flat_index = bmn_grid_segments(4, 3)
    # anchors (d, t) with t + d <= 3, d-major: segment (t, t + d)
    assert segments.tolist() == [[0, 0], [1, 1], [2, 2], [3, 3], [0, 1],
                                 [1, 2], [2, 3], [0, 2], [1, 3]]
    assert flat_index.tolist() == [0, 1, 2, 3, 4, 5, 6, 8, 9]


@pytest.mark.parametrize('device', DEVICES)
def test_channels_last_is_the_transposed_result(device, monkeypatch):
    # several tiles, so that each tile lands in its own column range
    monkeypatch.setattr(car_align_module, '_MIN_TILE', 1)
    monkeypatch.setattr(car_align_module, '_MAX_TILE', 2)
    generator = torch.Generator().manual_seed(5)
    x = torch.randn(2, 3, 7, generator=generator,
                    dtype=torch.float64).to(device).requires_grad_()
    proj = torch.randn(4, 3, 2, generator=generator,
                       dtype=torch.float64).to(device).requires_grad_()
    segments = (torch.rand(5, 2, generator=generator) * 9 - 1).to(device)
    index, weight = car_align_sampling(segments.double(), 7, 2, 2)
    first = car_align_with_sampling(x, index, weight, proj)
    last = car_align_with_sampling(x, index, weight, proj,
                                   channels_last=True)
    assert last.shape == (2, 5, 4)
    assert torch.equal(last, first.transpose(1, 2))
    assert torch.autograd.gradcheck(
        lambda a, w: car_align_with_sampling(
            a, index, weight, w, channels_last=True), (x, proj))
    with pytest.raises(ValueError, match='channels_last needs proj_weight'):
        car_align_with_sampling(x, index, weight, channels_last=True)


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('shared', [True, False])
@pytest.mark.parametrize('project, channels_last', [(False, False),
                                                    (True, False),
                                                    (True, True)])
def test_dense_equals_gather(device, shared, project, channels_last):
    """impl='dense' (the taps as one matrix) gives the gather path's values
    and gradients, in the same layout, for shared and per-batch plans."""
    assert_equals_gather('dense', device, shared, project, channels_last)


def test_dense_gradcheck_and_low_precision():
    assert_gradcheck_and_bfloat16('dense')


def test_impl_is_checked():
    x = torch.zeros(1, 2, 5)
    index, weight = car_align_sampling(torch.tensor([[0., 2.]]), 5, 2, 2)
    with pytest.raises(ValueError, match='impl must be one of'):
        car_align_with_sampling(x, index, weight, impl='sparse')
    with pytest.raises(ValueError, match='impl must be one of'):
        CARAlign(impl='sparse')
    assert "impl='dense'" in repr(CARAlign(impl='dense'))


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('channels_last', [False, True])
def test_dense_matrix_of_a_shared_plan_equals_building_it(device,
                                                          channels_last):
    """dense_sampling_matrix, made once and passed as ``dense_matrix``,
    gives the dense path's values and gradients, and the gather path's."""
    generator = torch.Generator().manual_seed(6)
    x = torch.randn(3, 5, 12, generator=generator, dtype=torch.float64)
    proj = torch.randn(7, 5, 4, generator=generator, dtype=torch.float64)
    segments = torch.rand(9, 2, generator=generator,
                          dtype=torch.float64) * 16 - 2
    x, proj, segments = x.to(device), proj.to(device), segments.to(device)
    index, weight = car_align_sampling(segments, 12, 4, 3)
    matrix = car_align_module.dense_sampling_matrix(index, weight, 12)
    assert matrix.shape == (9, 12 * 4)
    results = []
    for impl, dense_matrix in (('gather', None), ('dense', None),
                               ('dense', matrix)):
        inputs = [x.clone().requires_grad_(), proj.clone().requires_grad_()]
        out = car_align_with_sampling(*inputs[:1], index, weight, inputs[1],
                                      channels_last=channels_last,
                                      impl=impl, dense_matrix=dense_matrix)
        probe = torch.linspace(-1, 1, out.numel(), dtype=out.dtype,
                               device=device).view_as(out)
        results.append((out, torch.autograd.grad((out * probe).sum(),
                                                 inputs)))
    (want, want_grads), _, (got, got_grads) = results
    torch.testing.assert_close(got, results[1][0], rtol=0, atol=0)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    for g, w in zip(got_grads, want_grads):
        torch.testing.assert_close(g, w, rtol=0, atol=1e-12)


@pytest.mark.parametrize('device, impl, resolved', [
    ('cpu', 'auto', 'gather'), ('cuda', 'auto', 'dense'),
    ('cpu', 'triton', 'triton'), ('cuda', 'gather', 'gather')])
def test_auto_impl_is_the_fastest_measured_on_the_device(device, impl,
                                                         resolved):
    assert car_align_module.resolve_impl(impl, torch.device(device)) == \
        resolved
    with pytest.raises(ValueError, match='impl must be one of'):
        car_align_module.resolve_impl('cuda', torch.device(device))


def test_bmn_grid_matrix_is_built_once_per_device():
    from rcl_mm.models import BMNBackbone
    backbone = BMNBackbone(feat_dim=8, temporal_dim=10, num_samples=4,
                           hidden_dim_1d=8, hidden_dim_3d=8,
                           car_align_impl='dense')
    first = backbone.grid_matrix(torch.device('cpu'))
    assert backbone.grid_matrix(torch.device('cpu')) is first
    assert first.shape == (100, 10 * 4) and first.dtype == torch.float32
    outputs = []
    for impl in ('dense', 'gather'):
        backbone.car_align_impl = impl
        torch.manual_seed(0)
        outputs.append(backbone(torch.randn(2, 8, 10)))
    for key in outputs[0]:
        torch.testing.assert_close(outputs[0][key], outputs[1][key],
                                   rtol=1e-5, atol=1e-6)
