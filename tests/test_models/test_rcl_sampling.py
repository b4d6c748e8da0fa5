# Copyright (c) rcl_mm contributors. All rights reserved.
"""RCL's coordinates, exact tIoU targets, sampler and anchor set."""
import math

import pytest
import torch

from rcl_mm.models.task_modules import (bmn_targets, continuous_iou_targets,
                                        nearest_anchor,
                                        scale_invariant_anchors,
                                        scale_invariant_samples, segment_iou)
from rcl_helpers import grid_cells


def test_nearest_anchor_hand_case():
    # [2.3, 5.9]: start 2.3 -> t* = 2 (offset 0.3); length 3.6, so
    # length - 1 = 2.6 -> d* = 3 (offset -0.4); offsets doubled.
    segments = torch.tensor([[[2.3, 5.9], [0.0, 1.0], [9.8, 30.0]]])
    d_idx, t_idx, coords = nearest_anchor(segments, 10, 10)
    assert d_idx.tolist() == [[3, 0, 9]]
    assert t_idx.tolist() == [[2, 0, 9]]
    torch.testing.assert_close(coords[0, 0], torch.tensor([0.6, -0.8]))
    torch.testing.assert_close(coords[0, 1], torch.zeros(2))
    # Clamped cells: offsets are clamped to [-1, 1].
    torch.testing.assert_close(coords[0, 2], torch.tensor([1.0, 1.0]))


def test_grid_cells_are_their_own_anchors():
    segments = grid_cells(7, 5)[None]
    d_idx, t_idx, coords = nearest_anchor(segments, 7, 5)
    assert torch.equal(d_idx.view(5, 7),
                       torch.arange(5)[:, None].expand(5, 7))
    assert torch.equal(t_idx.view(5, 7),
                       torch.arange(7)[None].expand(5, 7))
    assert coords.abs().max() == 0


def test_continuous_iou_targets_hand_cases():
    # T = 10; gts [2, 5] and [6, 9] in boundary units, one padded row.
    gts = torch.tensor([[[0.2, 0.5], [0.6, 0.9], [0.0, 0.0]]])
    valid = torch.tensor([[True, True, False]])
    segments = torch.tensor([[[3.0, 6.0], [2.5, 5.0], [6.0, 9.0],
                              [0.0, 1.0], [4.0, 7.0]]])
    iou = continuous_iou_targets(segments, gts, valid, 10)
    # [3, 6] vs [2, 5]: 2 / 4; [2.5, 5]: 2.5 / 3; [6, 9]: 1; [0, 1]: 0
    # (the padded [0, 0] must not count); [4, 7]: max(1/5, 1/5).
    expected = torch.tensor([[0.5, 2.5 / 3, 1.0, 0.0, 0.2]])
    torch.testing.assert_close(iou, expected)
    no_gt = continuous_iou_targets(segments, gts[:, :0], valid[:, :0], 10)
    assert torch.equal(no_gt, torch.zeros(1, 5))


def test_continuous_targets_equal_bmn_targets_on_the_grid():
    gen = torch.Generator().manual_seed(0)
    start = torch.rand(2, 3, generator=gen) * 0.6
    gts = torch.stack((start, start + 0.1 + 0.3 * torch.rand(
        2, 3, generator=gen)), -1)
    valid = torch.tensor([[True, True, False], [True, False, False]])
    iou_map, _, _ = bmn_targets(gts, valid, 12, 8)
    segments = grid_cells(12, 8, dtype=torch.float64)[None].expand(
        2, -1, -1)
    iou = continuous_iou_targets(segments, gts, valid, 12)
    torch.testing.assert_close(iou.view(2, 8, 12).float(), iou_map)


def test_sampler_is_scale_invariant():
    gts = torch.tensor([[[0.1, 0.3]]])
    valid = torch.ones(1, 1, dtype=torch.bool)
    gen = torch.Generator().manual_seed(0)
    num = 20000
    segments, seg_valid = scale_invariant_samples(
        gts, valid, 100, 100, num_random=num, num_jitter=0,
        min_duration=1.0, generator=gen)
    assert segments.shape == (1, num, 2) and seg_valid.all()
    dur = segments[0, :, 1] - segments[0, :, 0]
    assert dur.min() >= 1.0 - 1e-5 and dur.max() <= 100.0 + 1e-4
    assert segments.min() >= 0 and segments.max() <= 100 + 1e-4
    # Equal counts per log-duration bin (5 bins of equal log width from 1
    # to 100), within 5% of the expected 4000 (binomial sd is ~1.4%).
    bins = torch.floor(torch.log(dur) / math.log(100) * 5).clamp(0, 4)
    counts = torch.bincount(bins.long(), minlength=5).float()
    assert ((counts - num / 5).abs() / (num / 5)).max() < 0.05
    # A grid spends far more anchors on long durations: the same bins
    # hold 1.5% (d <= 2.5) vs 36% of the valid cells; not so here.
    assert counts[0] / counts[4] > 0.9


def test_sampler_jitter_covers_every_gt():
    gts = torch.tensor([[[0.1, 0.3], [0.5, 0.9]], [[0.2, 0.25], [0, 0]]])
    valid = torch.tensor([[True, True], [True, False]])
    gen = torch.Generator().manual_seed(1)
    segments, seg_valid = scale_invariant_samples(
        gts, valid, 100, 100, num_random=4, num_jitter=16,
        jitter_ratio=0.25, generator=gen)
    assert segments.shape == (2, 4 + 2 * 16, 2)
    copies = segments[:, 4:].view(2, 2, 16, 2)
    assert seg_valid[:, :4].all()
    assert torch.equal(seg_valid[:, 4:].view(2, 2, 16),
                       valid[:, :, None].expand(-1, -1, 16))
    iou = segment_iou(copies / 100, gts[:, :, None, :])
    # Centre within a quarter length, length within x/1.25: IoU >= 0.44.
    assert iou[valid].min() > 0.44
    assert copies.min() >= 0 and copies.max() <= 100 + 1e-4


def test_scale_invariant_anchors():
    anchors = scale_invariant_anchors(100, 100, num_scales=5,
                                      min_duration=1.0, stride_ratio=0.5)
    dur = anchors[:, 1] - anchors[:, 0]
    ladder = torch.tensor([1.0, 100**0.25, 10.0, 100**0.75, 100.0])
    # float32 ends: durations agree with the ladder to rounding.
    scale = (dur[:, None] - ladder).abs().argmin(dim=1)
    torch.testing.assert_close(dur, ladder[scale], atol=1e-4, rtol=1e-5)
    counts = torch.bincount(scale, minlength=5)
    # Starts every max(1, l / 2); the last start T - l is always included:
    # l = 1: 0 .. 99; l = 10: 0, 5, .., 90; l = 100: 0.
    assert counts[0] == 100 and counts[2] == 19 and counts[4] == 1
    assert anchors.min() >= 0 and anchors.max() <= 100 + 1e-4
    # Far fewer anchors than the 5050 valid grid cells.
    assert len(anchors) < 300


@pytest.mark.parametrize('bad', [0.0, 101.0])
def test_sampler_rejects_bad_durations(bad):
    with pytest.raises(ValueError, match='min_duration'):
        scale_invariant_samples(
            torch.zeros(1, 0, 2), torch.zeros(1, 0, dtype=torch.bool), 100,
            100, min_duration=bad)
