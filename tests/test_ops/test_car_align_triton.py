# Copyright (c) rcl_mm contributors. All rights reserved.
"""CARAlign's Triton kernels (impl='triton') against the PyTorch paths.

On CUDA the compiled kernels run; without a GPU the same kernels run in
Triton's interpreter on CPU tensors (``TRITON_INTERPRET=1``, set by
``tests/conftest.py`` before triton is imported), so the tests need the
``triton`` package but no GPU.
"""
import pytest
import torch

from rcl_mm.models import BMNBackbone
from rcl_mm.ops import car_align_sampling, car_align_with_sampling

pytest.importorskip('triton')
from ops_helpers import (TRITON_DEVICES as DEVICES,  # noqa: E402
                         assert_equals_gather, assert_gradcheck_and_bfloat16,
                         impl_outputs)

from rcl_mm.ops.car_align_triton import row_plan  # noqa: E402


@pytest.fixture
def device(request):
    return torch.device(request.param)


@pytest.mark.parametrize('device', DEVICES, indirect=True)
@pytest.mark.parametrize('shared', [True, False])
@pytest.mark.parametrize('project, channels_last', [(False, False),
                                                    (True, False),
                                                    (True, True)])
def test_triton_equals_gather(device, shared, project, channels_last):
    assert_equals_gather('triton', device, shared, project, channels_last)


@pytest.mark.parametrize('device', DEVICES, indirect=True)
def test_triton_many_blocks(device):
    """More bags, columns and taps per row than one block holds (32 bags,
    64 columns, 32 taps per chunk), so every loop and mask is used."""
    generator = torch.Generator().manual_seed(5)
    x = torch.randn(2, 70, 40, generator=generator)
    proj = torch.randn(130, 70, 8, generator=generator)
    # Clustered: many taps read the same rows (the backward's chunks).
    start = 10 + torch.rand(2, 75, 1, generator=generator) * 4
    segments = torch.cat(
        (start, start + torch.rand(2, 75, 1, generator=generator) * 6), -1)
    x, proj, segments = x.to(device), proj.to(device), segments.to(device)
    index, weight = car_align_sampling(segments, 40, 8, 3)
    (want, want_grads), (got, got_grads) = impl_outputs(
        x, proj, index, weight, True, ('gather', 'triton'))
    # float32, summed in another order.
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-3)
    for g, w in zip(got_grads, want_grads):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-3)
    _, _, starts = row_plan(
        (index * 8 + torch.arange(8, device=device)[:, None]).reshape(
            2, 75, -1), weight.reshape(2, 75, -1), 40 * 8)
    assert int((starts[1:] - starts[:-1]).max()) > 32


@pytest.mark.parametrize('device', DEVICES, indirect=True)
def test_triton_gradcheck_and_bfloat16(device):
    assert_gradcheck_and_bfloat16('triton', device)


@pytest.mark.parametrize('device', DEVICES, indirect=True)
def test_triton_no_segments(device):
    """K = 0: empty outputs and zero gradients, as the gather path."""
    x = torch.randn(2, 3, 7, device=device, requires_grad=True)
    proj = torch.randn(4, 3, 2, device=device, requires_grad=True)
    index, weight = car_align_sampling(
        torch.zeros(0, 2, device=device), 7, 2, 2)
    out = car_align_with_sampling(x, index, weight, proj, impl='triton')
    assert out.shape == (2, 4, 0)
    out.sum().backward()
    assert torch.equal(x.grad, torch.zeros_like(x))
    plain = car_align_with_sampling(x, index, weight, impl='triton')
    assert plain.shape == (2, 3, 2, 0)


def test_row_plan_hand_case():
    """Two plans of two bags x two taps over R = 3 rows; zero-weight taps
    are left out of every row."""
    rows = torch.tensor([[[2, 0], [2, 1]], [[1, 1], [0, 2]]])
    weight = torch.tensor([[[0.5, 0.25], [1.0, 0.0]],
                           [[2.0, 3.0], [4.0, 5.0]]])
    bags, sorted_weight, starts = row_plan(rows, weight, 3)
    # Plan 0: row 0 <- bag 0 (0.25); row 1 <- nothing (its tap weighs 0);
    # row 2 <- bag 0 (0.5), bag 1 (1.0). Plan 1: row 0 <- bag 1 (4);
    # row 1 <- bag 0 (2), bag 0 (3); row 2 <- bag 1 (5).
    assert starts.tolist() == [0, 1, 1, 3, 4, 6, 7]
    assert bags[:7].tolist() == [0, 0, 1, 1, 0, 0, 1]
    assert sorted_weight[:7].tolist() == [0.25, 0.5, 1.0, 4.0, 2.0, 3.0,
                                          5.0]


def test_triton_needs_cuda_or_the_interpreter(monkeypatch):
    # The check reads the variable at each call (the kernels' mode was
    # fixed at import, so this only exercises the message).
    monkeypatch.setenv('TRITON_INTERPRET', '0')
    x = torch.zeros(1, 2, 5)
    index, weight = car_align_sampling(torch.tensor([[0., 2.]]), 5, 2, 2)
    with pytest.raises(RuntimeError, match="impl='gather' on the CPU"):
        car_align_with_sampling(x, index, weight, impl='triton')


@pytest.mark.parametrize('device', DEVICES, indirect=True)
def test_bmn_backbone_with_triton_equals_gather(device):
    """The backbone's fused BM layer through the kernels: the same
    proposal map and the same gradients as with the gather path."""
    torch.manual_seed(0)
    kwargs = dict(feat_dim=8, temporal_dim=10, duration_dim=8,
                  num_samples=4, hidden_dim_1d=16, hidden_dim_3d=24)
    gather = BMNBackbone(**kwargs).to(device)
    triton_backbone = BMNBackbone(car_align_impl='triton', **kwargs).to(
        device)
    triton_backbone.load_state_dict(gather.state_dict())
    x = torch.randn(2, 8, 10, device=device)
    outs = []
    for model in (gather, triton_backbone):
        feats = model(x)
        feats['proposal_map'].square().sum().backward()
        outs.append((feats['proposal_map'], model.bm_conv.weight.grad))
    (want, want_grad), (got, got_grad) = outs
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got_grad, want_grad, rtol=1e-4, atol=1e-4)
