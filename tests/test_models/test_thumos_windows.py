# Copyright (c) rcl_mm contributors. All rights reserved.
"""Windowed prediction: window -> video coordinates, merging, Soft-NMS."""
import math

import numpy as np
import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.registry import DefaultScope

from rcl_mm.models.task_modules import (bmn_candidates,
                                        merge_window_proposals,
                                        window_proposals)
from rcl_mm.registry import MODELS

SECONDS = 1 / 6  # 5 frames at 30 fps


def test_window_proposals_map_to_video_seconds_exactly():
    # Window of 128 snippets starting at snippet 100; candidates at
    # snippets [32, 64], [0, 128], [115.2, 128] of the window.
    segments = torch.tensor([[[0.25, 0.5], [0., 1.], [0.9, 1.]]],
                            dtype=torch.float64)
    scores = torch.tensor([[0.5, 0.9, 0.7]], dtype=torch.float64)
    valid = torch.ones(1, 3, dtype=torch.bool)
    dets = window_proposals(segments, scores, valid, [100], [128], 128,
                            [SECONDS], top_k=10)[0]
    assert dets[:, 2].tolist() == [0.9, 0.7, 0.5]
    # (window_start + t) * snippet_seconds, bit for bit.
    assert dets[0, :2].tolist() == [100 * SECONDS, 228 * SECONDS]
    assert dets[2, :2].tolist() == [132 * SECONDS, 164 * SECONDS]
    assert dets[1, 0].item() == (100 + 0.9 * 128) * SECONDS
    # top_k per window, by score.
    top = window_proposals(segments, scores, valid, [100], [128], 128,
                           [SECONDS], top_k=2)[0]
    assert top[:, 2].tolist() == [0.9, 0.7]


def test_window_proposals_drop_padding_and_clip_to_video_end():
    # The last window of a 40-snippet video: snippets 40.. are padding.
    segments = torch.tensor([[[0.25, 0.5], [0.5, 0.75], [0., 0.125]],
                             [[0., 0.5], [0., 0.], [0., 0.]]])
    scores = torch.tensor([[0.3, 0.9, 0.2], [0.4, 0., 0.]])
    valid = torch.tensor([[True, True, True], [True, False, False]])
    dets = window_proposals(segments, scores, valid, [0, 1000], [40, 128],
                            128, [0.2, SECONDS], top_k=5)
    # [64, 96] starts in the padding: dropped; [32, 64] ends at 40.
    np.testing.assert_allclose(dets[0], [[32 * 0.2, 40 * 0.2, 0.3],
                                         [0., 16 * 0.2, 0.2]], rtol=1e-6)
    assert dets[1].shape == (1, 3)
    assert dets[1][0, :2].tolist() == [1000 * SECONDS, 1064 * SECONDS]


def test_merge_is_gaussian_soft_nms_over_all_windows():
    # The same action found by two overlapping windows, and another.
    video = torch.tensor([[10., 20., 0.9], [10., 20., 0.8],
                          [30., 40., 0.5], [15., 20., 0.6]],
                         dtype=torch.float64)
    merged = merge_window_proposals([video], soft_nms_alpha=0.3,
                                    top_k=10)[0]
    # Pick [10, 20] 0.9: the duplicate decays by exp(-1 / 0.3), [15, 20]
    # (IoU 0.5) by exp(-0.25 / 0.3); [30, 40] does not overlap.
    d15 = 0.6 * math.exp(-0.25 / 0.3)
    dup = 0.8 * math.exp(-1 / 0.3)
    # After picking [15, 20] the duplicate (IoU 0.5) decays again.
    expected = [[10, 20, 0.9], [30, 40, 0.5], [15, 20, d15],
                [10, 20, dup * math.exp(-0.25 / 0.3)]]
    np.testing.assert_allclose(merged, expected, rtol=1e-12)
    top2 = merge_window_proposals([video], soft_nms_alpha=0.3, top_k=2)[0]
    np.testing.assert_allclose(top2, expected[:2], rtol=1e-12)


def test_merge_does_not_depend_on_video_batch():
    gen = torch.Generator().manual_seed(0)
    videos = []
    for n in (0, 5, 40, 300, 1):
        start = torch.rand(n, generator=gen, dtype=torch.float64) * 100
        length = torch.rand(n, generator=gen, dtype=torch.float64) * 10
        score = torch.rand(n, generator=gen, dtype=torch.float64)
        videos.append(torch.stack((start, start + length + 0.1, score), 1))
    one = merge_window_proposals(videos, top_k=20, video_batch=1)
    all_ = merge_window_proposals(videos, top_k=20, video_batch=16)
    assert [len(v) for v in one] == [0, 5, 20, 20, 1]
    for a, b in zip(one, all_):
        assert torch.equal(a, b)


@pytest.fixture
def tiny_bmn():
    torch.manual_seed(0)
    # A scoped build: a global default scope would leak into later tests.
    with DefaultScope.overwrite_default_scope('rcl_mm'):
        model = MODELS.build(
            dict(
                type='ProposalMapLocalizer',
                backbone=dict(type='BMNBackbone', feat_dim=8, temporal_dim=32,
                              duration_dim=8, num_samples=4, hidden_dim_1d=8,
                              hidden_dim_3d=8),
                head=dict(type='PEMHead', in_channels=8, hidden_channels=4),
                test_cfg=dict(window_top_k=7)))
    return model.eval()


def window_sample(name, start, valid_length, num_snippets):
    return ActionDataSample(
        metainfo=dict(video_name=name, window_start=start,
                      valid_length=valid_length, num_snippets=num_snippets,
                      snippet_seconds=SECONDS,
                      duration_second=num_snippets * SECONDS,
                      annotations=[]))


def test_localizer_predicts_windows_without_nms(tiny_bmn):
    inputs = torch.randn(2, 8, 32)
    samples = [window_sample('v', 0, 32, 50), window_sample('v', 18, 32,
                                                            50)]
    with torch.no_grad():
        results = tiny_bmn(inputs, samples, mode='predict')
        confidence_map, start, end = tiny_bmn._forward(inputs)
        _, cand_scores, cand_valid = bmn_candidates(start, end,
                                                    confidence_map)
    for b, result in enumerate(results):
        segs = result.pred_instances.segments
        scores = result.pred_instances.scores
        assert len(scores) == 7
        # Raw candidate scores (no Soft-NMS decay): the 7 best.
        best = cand_scores[b][cand_valid[b]].sort(descending=True).values
        assert scores.tolist() == pytest.approx(best[:7].tolist())
        lo = samples[b].window_start * SECONDS
        assert (segs[:, 0] >= lo - 1e-6).all()
        assert (segs[:, 1] <= (samples[b].window_start + 32) * SECONDS +
                1e-6).all()
        assert result.window_start == samples[b].window_start
    # Whole videos still go through Soft-NMS; mixing is an error.
    mixed = [samples[0], ActionDataSample(metainfo=dict(
        video_name='w', duration_second=10.))]
    with pytest.raises(ValueError, match='mixes windows'):
        tiny_bmn(inputs, mixed, mode='predict')


def test_windowed_inference_names_the_window_with_nan(tiny_bmn):
    from rcl_mm.apis import detect_windowed
    features = np.random.default_rng(0).standard_normal(
        (70, 8)).astype(np.float32)
    features[50, 3] = np.nan
    merge = dict(soft_nms_alpha=0.3, soft_nms_low_threshold=0.,
                 soft_nms_high_threshold=0., top_k=10)
    with pytest.raises(ValueError, match=r'video v_long, window at snippet '
                       r'32 has NaN or Inf values at snippet index\(es\) 18'):
        detect_windowed(tiny_bmn, features, 0.2, 0, merge, batch_size=2,
                        name='v_long')
    features[50, 3] = 0.
    dets = detect_windowed(tiny_bmn, features, 0.2, 0, merge, batch_size=2)
    assert dets.shape[1] == 3 and 0 < len(dets) <= 10
    assert dets[:, 0].min() >= 0 and dets[:, 1].max() <= 70 * 0.2 + 1e-9
