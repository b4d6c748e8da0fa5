# Copyright (c) rcl_mm contributors. All rights reserved.
import pytest
import torch

from rcl_mm.models.task_modules import bmn_targets, pad_segments, segment_iou


def _mmaction_bmn(temporal_dim):
    """A tiny mmaction2 BMN, used only for its ``generate_labels``."""
    from rcl_mm.utils.compat import patch_missing_drn
    patch_missing_drn()
    from mmaction.models.localizers import BMN
    return BMN(
        temporal_dim=temporal_dim,
        boundary_ratio=0.5,
        num_samples=2,
        num_samples_per_bin=1,
        feat_dim=8,
        soft_nms_alpha=0.4,
        soft_nms_low_threshold=0.5,
        soft_nms_high_threshold=0.9,
        post_process_top_k=10,
        hidden_dim_1d=4,
        hidden_dim_2d=4,
        hidden_dim_3d=4)


def _random_gts(num_videos, seed):
    """Random sorted gts, several per video, some touching 0 and 1."""
    gen = torch.Generator().manual_seed(seed)
    gts = []
    for i in range(num_videos):
        num = int(torch.randint(1, 6, (1, ), generator=gen))
        seg = torch.rand(num, 2, generator=gen).sort(dim=-1).values
        if i % 3 == 0:
            seg[0, 0] = 0.
        if i % 4 == 0:
            seg[-1, 1] = 1.
        gts.append(seg)
    return gts


def test_segment_iou():
    a = torch.tensor([[0., 1.], [0.5, 1.5], [2., 3.]])
    b = torch.tensor([0.5, 2.])
    torch.testing.assert_close(
        segment_iou(a, b), torch.tensor([0.5 / 2., 1. / 1.5, 0.]))
    # Broadcasting: (3, 1, 2) against (4, 2) -> (3, 4).
    c = torch.rand(4, 2).sort(dim=-1).values
    iou = segment_iou(a[:, None], c)
    assert iou.shape == (3, 4)
    torch.testing.assert_close(iou, segment_iou(c, a[:, None]))


def test_pad_segments():
    segs = [
        torch.tensor([[0.1, 0.2]]),
        torch.zeros(0, 2),
        torch.tensor([[0.3, 0.4], [0.5, 0.9]])
    ]
    padded, valid = pad_segments(segs)
    assert padded.shape == (3, 2, 2)
    assert valid.tolist() == [[True, False], [False, False], [True, True]]
    torch.testing.assert_close(padded[2], segs[2])
    assert padded[1].abs().sum() == 0


def test_bmn_targets_hand_computed():
    # T = 4, one gt [0.25, 0.75]; video 1 has only padding.
    gts = torch.tensor([[[0.25, 0.75], [0.6, 0.7]], [[0.1, 0.2], [0., 0.]]])
    valid = torch.tensor([[True, False], [False, False]])
    iou_map, start, end = bmn_targets(gts, valid, 4)
    expected_iou = torch.tensor([
        [0., 0.5, 0.5, 0.],  # d = 0: [t/4, (t+1)/4]
        [1 / 3, 1., 1 / 3, 0.],  # d = 1
        [2 / 3, 2 / 3, 0.25, 0.],  # d = 2
        [0.5, 0.5, 0.2, 0.],  # d = 3
    ])
    torch.testing.assert_close(iou_map[0], expected_iou)
    # Anchors [(t-0.5)/4, (t+1.5)/4]; windows [-0.125, 0.625] (start) and
    # [0.375, 1.125] (end).
    torch.testing.assert_close(start[0], torch.tensor([1., 1., 0.5, 0.]))
    torch.testing.assert_close(end[0], torch.tensor([0., 0.5, 1., 1.]))
    for target in (iou_map, start, end):
        assert target[1].abs().sum() == 0
        assert target.dtype == torch.float32


@pytest.mark.parametrize('temporal_dim', [16, 100])
def test_bmn_targets_match_mmaction2(temporal_dim):
    bmn = _mmaction_bmn(temporal_dim)
    gts = _random_gts(12, seed=temporal_dim)
    expected = bmn.generate_labels(gts)
    padded, valid = pad_segments(gts)
    result = bmn_targets(padded, valid, temporal_dim)
    for ours, ref in zip(result, expected):
        assert ours.shape == ref.shape
        assert (ours - ref).abs().max() <= 1e-6


def test_bmn_targets_duration_dim():
    gts = _random_gts(4, seed=3)
    padded, valid = pad_segments(gts)
    full, start, end = bmn_targets(padded, valid, 16)
    short, start_s, end_s = bmn_targets(padded, valid, 16, duration_dim=6)
    assert short.shape == (4, 6, 16)
    torch.testing.assert_close(short, full[:, :6], rtol=0, atol=0)
    torch.testing.assert_close(start_s, start, rtol=0, atol=0)
    torch.testing.assert_close(end_s, end, rtol=0, atol=0)
    # D > T: proposals longer than the video still get their IoU.
    long = bmn_targets(padded, valid, 8, duration_dim=12)[0]
    d, t = 11, 3
    anchor = torch.tensor([t / 8, (t + d + 1) / 8], dtype=torch.float64)
    best = max(float(segment_iou(anchor, g.double())) for g in gts[0])
    assert abs(float(long[0, d, t]) - best) <= 1e-6


def test_bmn_targets_without_gts():
    iou_map, start, end = bmn_targets(
        torch.zeros(3, 0, 2), torch.zeros(3, 0, dtype=torch.bool), 8)
    assert iou_map.shape == (3, 8, 8) and iou_map.abs().sum() == 0
    assert start.shape == end.shape == (3, 8)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_bmn_targets_cuda():
    padded, valid = pad_segments(_random_gts(6, seed=5))
    cpu = bmn_targets(padded, valid, 100)
    gpu = bmn_targets(padded.cuda(), valid.cuda(), 100)
    for a, b in zip(cpu, gpu):
        assert b.is_cuda
        assert (a - b.cpu()).abs().max() <= 1e-6
