# Copyright (c) rcl_mm contributors. All rights reserved.
"""Soft-NMS's Triton kernel (impl='triton') against the PyTorch loop.

Compiled on CUDA; without a GPU in Triton's interpreter on CPU tensors
(``TRITON_INTERPRET=1``, set by ``tests/conftest.py``).
"""
import pytest
import torch

from rcl_mm.models.task_modules import bmn_candidates, soft_nms
from rcl_mm.testing import noise_maps, smooth_maps

pytest.importorskip('triton')
from ops_helpers import TRITON_DEVICES as DEVICES  # noqa: E402


def assert_same_picks(candidates, device, *nms):
    """Both impls: the same picks in the same order, the same validity,
    scores equal but for exp vs e ** x (< 1e-15 relative)."""
    segments, scores, valid = (t.to(device) for t in candidates)
    want = soft_nms(segments, scores, valid, *nms)
    got = soft_nms(segments, scores, valid, *nms, impl='triton')
    assert torch.equal(got[2], want[2])
    assert torch.equal(got[0], want[0])
    torch.testing.assert_close(got[1], want[1], rtol=1e-13, atol=0)


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('nms', [(0.4, 0.5, 0.9, 100), (0.3, 0.0, 0.0, 7)],
                         ids=['anet', 'thumos'])
def test_random_proposals(device, nms):
    """Padded videos of 60, 2, 17, 1 and 0 candidates; more picks than
    some videos have."""
    gen = torch.Generator().manual_seed(0)
    counts = [60, 2, 17, 1, 0]
    starts = torch.rand(5, 60, generator=gen) * 1.1 - 0.05
    lengths = 0.02 + 0.4 * torch.rand(5, 60, generator=gen)
    segments = torch.stack((starts, starts + lengths), -1).double()
    scores = torch.rand(5, 60, generator=gen).double()
    valid = torch.arange(60) < torch.tensor(counts)[:, None]
    assert_same_picks((segments, scores, valid), device, *nms)


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('maps', [smooth_maps, noise_maps])
def test_bmn_candidates(device, maps):
    """Grid-aligned candidates of BMN-like maps: IoUs equal to the
    thresholds and equal scores occur, and are decided alike."""
    gen = torch.Generator().manual_seed(1)
    start, end, confidence = maps(2, 24, 24, gen)
    candidates = bmn_candidates(start, end, confidence)
    assert_same_picks(candidates, device, 0.4, 0.5, 0.9, 100)


@pytest.mark.parametrize('device', DEVICES)
def test_ties_pick_the_first_maximum(device):
    """Equal scores: the later candidate first, as the PyTorch loop."""
    segments = torch.tensor([[[0., .2], [.5, .7], [.1, .3], [.6, .9]]],
                            dtype=torch.float64)
    scores = torch.tensor([[.5, .5, .5, .4]], dtype=torch.float64)
    valid = torch.ones(1, 4, dtype=torch.bool)
    assert_same_picks((segments, scores, valid), device, 0.4, 0.5, 0.9, 3)


@pytest.mark.parametrize('device', DEVICES)
def test_no_videos(device):
    segments = torch.zeros(0, 5, 2, dtype=torch.float64, device=device)
    scores = torch.zeros(0, 5, dtype=torch.float64, device=device)
    valid = torch.ones(0, 5, dtype=torch.bool, device=device)
    out = soft_nms(segments, scores, valid, 0.4, 0.5, 0.9, 3, impl='triton')
    assert [tuple(t.shape) for t in out] == [(0, 4, 2), (0, 4), (0, 4)]


def test_impl_is_checked():
    segments = torch.zeros(1, 2, 2, dtype=torch.float64)
    scores = torch.zeros(1, 2, dtype=torch.float64)
    valid = torch.ones(1, 2, dtype=torch.bool)
    with pytest.raises(ValueError, match='impl must be one of'):
        soft_nms(segments, scores, valid, 0.4, 0.5, 0.9, 1, impl='numpy')


def test_triton_needs_cuda_or_the_interpreter(monkeypatch):
    # Read at each call (the kernels' mode was fixed at import).
    monkeypatch.setenv('TRITON_INTERPRET', '0')
    segments = torch.zeros(1, 2, 2, dtype=torch.float64)
    scores = torch.zeros(1, 2, dtype=torch.float64)
    valid = torch.ones(1, 2, dtype=torch.bool)
    with pytest.raises(RuntimeError, match="impl='torch' on the CPU"):
        soft_nms(segments, scores, valid, 0.4, 0.5, 0.9, 1, impl='triton')


@pytest.mark.parametrize('device', DEVICES)
def test_localizer_test_cfg_selects_the_kernel(device):
    """test_cfg soft_nms_impl='triton': the same detections."""
    from mmaction.structures import ActionDataSample

    from rcl_mm.models import BMN
    torch.manual_seed(0)
    model = BMN(temporal_dim=16, boundary_ratio=0.5, num_samples=4,
                num_samples_per_bin=1, feat_dim=8, soft_nms_alpha=0.4,
                soft_nms_low_threshold=0.5, soft_nms_high_threshold=0.9,
                post_process_top_k=20, hidden_dim_1d=16, hidden_dim_2d=8,
                hidden_dim_3d=16).to(device).eval()
    inputs = torch.rand(2, 8, 16, device=device)
    samples = []
    for i in range(2):
        sample = ActionDataSample()
        sample.set_metainfo(dict(video_name=f'v_{i}', duration_second=30.))
        samples.append(sample)
    results = []
    for impl in ('torch', 'triton'):
        model.test_cfg['soft_nms_impl'] = impl
        with torch.no_grad():
            results.append(model(inputs, samples, mode='predict'))
    for want, got in zip(*results):
        assert torch.equal(got.pred_instances.segments,
                           want.pred_instances.segments)
        torch.testing.assert_close(got.pred_instances.scores,
                                   want.pred_instances.scores, rtol=1e-13,
                                   atol=0)


@pytest.mark.parametrize('device, impl, available, resolved', [
    ('cpu', 'auto', True, 'torch'), ('cuda', 'auto', True, 'triton'),
    ('cuda', 'auto', False, 'torch'), ('cpu', 'triton', True, 'triton'),
    ('cuda', 'torch', True, 'torch')])
def test_auto_impl(device, impl, available, resolved, monkeypatch):
    """'auto': the Triton kernel on CUDA where Triton is installed."""
    from rcl_mm.models.task_modules import post_processing
    monkeypatch.setattr(post_processing, 'triton_available',
                        lambda: available)
    assert post_processing.resolve_soft_nms_impl(
        impl, torch.device(device)) == resolved
    with pytest.raises(ValueError, match='soft_nms impl must be one of'):
        post_processing.resolve_soft_nms_impl('cuda', torch.device(device))
