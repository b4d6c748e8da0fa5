# Copyright (c) rcl_mm contributors. All rights reserved.
import math

import numpy as np
import pytest
import torch

from rcl_mm.models.task_modules import (bmn_candidates, bmn_post_process,
                                        bmn_video_duration,
                                        post_process_proposals, soft_nms)
from rcl_mm.testing import noise_maps, smooth_maps

ALPHA, LOW, HIGH = 0.4, 0.5, 0.9


def _mmaction():
    """mmaction2's BMN class and proposal utilities."""
    from rcl_mm.utils.compat import patch_missing_drn
    patch_missing_drn()
    from mmaction.models.localizers import BMN
    from mmaction.models.localizers.utils import proposal_utils
    return BMN, proposal_utils


def _mmaction_bmn(temporal_dim, top_k):
    """A tiny mmaction2 BMN whose ``_forward`` the tests replace."""
    bmn_cls, _ = _mmaction()
    return bmn_cls(
        temporal_dim=temporal_dim,
        boundary_ratio=0.5,
        num_samples=2,
        num_samples_per_bin=1,
        feat_dim=8,
        soft_nms_alpha=ALPHA,
        soft_nms_low_threshold=LOW,
        soft_nms_high_threshold=HIGH,
        post_process_top_k=top_k,
        feature_extraction_interval=16,
        hidden_dim_1d=4,
        hidden_dim_2d=4,
        hidden_dim_3d=4)


def _reference_candidates(start, end, conf):
    """Plain-loop statement of BMN's candidate rule, for one video."""
    num_t, num_d = start.shape[0], conf.shape[1]

    def bins(scores, forced):
        out = [False] * num_t
        out[forced] = True
        top = float(scores.max())
        for i in range(1, num_t - 1):
            peak = scores[i] > scores[i - 1] and scores[i] > scores[i + 1]
            out[i] = out[i] or bool(peak) or float(scores[i]) > 0.5 * top
        return out

    starts, ends = bins(start, 0), bins(end, num_t - 1)
    cands = []
    for d in range(num_d):
        for t in range(num_t):
            e = t + d + 1
            if e < num_t and starts[t] and ends[e]:
                score = start[t] * end[e] * conf[1, d, t] * conf[0, d, t]
                cands.append([t / num_t, e / num_t, float(score)])
    return torch.tensor(cands, dtype=torch.float64).reshape(-1, 3)


def _random_proposals(counts, gen):
    """Padded random proposals, some sticking out of [0, 1]."""
    num_k = max(counts)
    starts = torch.rand(len(counts), num_k, generator=gen) * 1.1 - 0.05
    lengths = 0.02 + 0.4 * torch.rand(len(counts), num_k, generator=gen)
    segments = torch.stack((starts, starts + lengths), dim=-1).double()
    scores = torch.rand(len(counts), num_k, generator=gen).double()
    valid = torch.arange(num_k) < torch.tensor(counts)[:, None]
    return segments, scores, valid


def test_bmn_video_duration():
    # 1000 frames, interval 16: 992 usable frames.
    assert bmn_video_duration(50., 1000, 16) == 992 / 1000 * 50.
    out = bmn_video_duration(
        torch.tensor([50., 10.], dtype=torch.float64),
        torch.tensor([1000, 320]), 16)
    torch.testing.assert_close(out,
                               torch.tensor([49.6, 10.], dtype=torch.float64))


@pytest.mark.parametrize('num_d', [16, 7])
def test_bmn_candidates_rule(num_d):
    gen = torch.Generator().manual_seed(num_d)
    start, end, conf = noise_maps(3, 16, num_d, gen)
    segments, scores, valid = bmn_candidates(start, end, conf)
    for b in range(3):
        ref = _reference_candidates(start[b], end[b], conf[b])
        num = int(valid[b].sum())
        assert valid[b, :num].all() and not valid[b, num:].any()
        assert num == len(ref)
        assert (segments[b, :num] == ref[:, :2]).all()
        assert (scores[b, :num] == ref[:, 2]).all()


def test_bmn_candidates_none():
    # Only start bin 0 and end bin 4; with D = 1 they cannot pair.
    start = torch.tensor([[1., 0., 0., 0., 0.]])
    end = torch.tensor([[0., 0., 0., 0., 1.]])
    conf = torch.rand(1, 2, 1, 5)
    segments, scores, valid = bmn_candidates(start, end, conf)
    assert segments.shape == (1, 0, 2) and valid.shape == (1, 0)
    dets = bmn_post_process(start, end, conf, [10.], ALPHA, LOW, HIGH, 5)
    assert dets[0].shape == (0, 3)


def test_soft_nms_hand_computed():
    # A = [0, .4] (0.9), B = [.1, .4] (0.8), C = [.1, .5] (0.7); padding.
    # Pick A (width .4 -> threshold .66): IoU(A, B) = .75 decays B by
    # exp(-.75^2 / .4); IoU(A, C) = .6 does not decay C. Pick C: IoU(C, B)
    # = .75 decays B again. Pick B.
    segments = torch.tensor([[[0., .4], [.1, .4], [.1, .5], [0., 1.]]],
                            dtype=torch.float64)
    scores = torch.tensor([[.9, .8, .7, 5.]], dtype=torch.float64)
    valid = torch.tensor([[True, True, True, False]])
    out_segs, out_scores, out_valid = soft_nms(segments, scores, valid, ALPHA,
                                               LOW, HIGH, 10)
    decay = math.exp(-.75**2 / ALPHA)
    assert out_valid.tolist() == [[True, True, True, False]]
    torch.testing.assert_close(out_segs[0, :3], segments[0, [0, 2, 1]])
    torch.testing.assert_close(
        out_scores[0, :3],
        torch.tensor([.9, .7, .8 * decay * decay], dtype=torch.float64))
    # top_k = 1 makes top_k + 1 = 2 picks, like mmaction2.
    _, two, _ = soft_nms(segments, scores, valid, ALPHA, LOW, HIGH, 1)
    torch.testing.assert_close(two,
                               torch.tensor([[.9, .7]], dtype=torch.float64))


def test_soft_nms_pick_loop_from_task_utils():
    """impl as a TASK_UTILS config: the torch loop's type gives the named
    impl's picks exactly; a pick loop of one's own plugs in (here: plain
    NMS order, no decay) and gets soft_nms's sorted candidates."""
    from rcl_mm.registry import TASK_UTILS
    gen = torch.Generator().manual_seed(2)
    starts = torch.rand(3, 40, generator=gen, dtype=torch.float64)
    segments = torch.stack((starts, starts + 0.3), -1)
    scores = torch.rand(3, 40, generator=gen, dtype=torch.float64)
    valid = torch.rand(3, 40, generator=gen) > 0.2
    named = soft_nms(segments, scores, valid, ALPHA, LOW, HIGH, 9)
    typed = soft_nms(segments, scores, valid, ALPHA, LOW, HIGH, 9,
                     impl=dict(type='TorchSoftNMSPicks'))
    for a, b in zip(named, typed):
        assert torch.equal(a, b)

    @TASK_UTILS.register_module(force=True)
    class FirstPicks:
        """The first candidates of soft_nms's order, undecayed."""

        def __call__(self, scores, seg_start, seg_end, width, thresh, valid,
                     alpha, num_picks):
            idx = torch.arange(num_picks).expand(scores.size(0), -1)
            return scores[:, :num_picks], idx

    try:
        _, got, got_valid = soft_nms(segments, scores, valid, ALPHA, LOW,
                                     HIGH, 4, impl=dict(type='FirstPicks'))
    finally:
        TASK_UTILS.module_dict.pop('FirstPicks')
    # soft_nms's order: descending score, padding last.
    want = scores.masked_fill(~valid, 0).sort(dim=1, descending=True)[0]
    torch.testing.assert_close(got, want[:, :5])
    assert got_valid.all()


@pytest.mark.parametrize('top_k', [4, 100])
def test_soft_nms_matches_mmaction2(top_k):
    _, utils = _mmaction()
    gen = torch.Generator().manual_seed(top_k)
    counts = [60, 2, 17, 1, 40]
    segments, scores, valid = _random_proposals(counts, gen)
    out_segs, out_scores, out_valid = soft_nms(segments, scores, valid, ALPHA,
                                               LOW, HIGH, top_k)
    for b, num in enumerate(counts):
        proposals = torch.cat((segments[b, :num], scores[b, :num, None]),
                              dim=1).numpy()
        ref = torch.from_numpy(
            utils.soft_nms(proposals, ALPHA, LOW, HIGH, top_k))
        picks = int(out_valid[b].sum())
        assert picks == len(ref) == min(num, top_k + 1)
        ours = torch.cat((out_segs[b, :picks], out_scores[b, :picks, None]),
                         dim=1)
        assert (ours - ref).abs().max() <= 1e-6


def test_post_process_proposals_matches_mmaction2():
    _, utils = _mmaction()
    gen = torch.Generator().manual_seed(0)
    counts = [50, 1, 9, 30]
    top_k = 8
    segments, scores, valid = _random_proposals(counts, gen)
    infos = [
        dict(duration_frame=1000 + 37 * b, duration_second=30. + 7.5 * b)
        for b in range(len(counts))
    ]
    durations = [
        bmn_video_duration(i['duration_second'], i['duration_frame'], 16)
        for i in infos
    ]
    dets = post_process_proposals(segments, scores, valid, durations, ALPHA,
                                  LOW, HIGH, top_k)
    for b, num in enumerate(counts):
        proposals = torch.cat((segments[b, :num], scores[b, :num, None]),
                              dim=1).numpy()
        ref = utils.post_processing(proposals, infos[b], ALPHA, LOW, HIGH,
                                    top_k, 16)
        ref = torch.tensor([p['segment'] + [p['score']] for p in ref],
                           dtype=torch.float64)
        assert dets[b].shape == ref.shape == (min(num, top_k), 3)
        assert (dets[b] - ref).abs().max() <= 1e-6


@pytest.mark.parametrize('num_t,top_k,make_maps', [
    (16, 7, noise_maps),
    (16, 100, smooth_maps),
    (100, 100, smooth_maps),
])
def test_bmn_post_process_matches_predict(num_t, top_k, make_maps):
    from mmengine.structures import BaseDataElement
    bmn = _mmaction_bmn(num_t, top_k)
    gen = torch.Generator().manual_seed(num_t + top_k)
    batch = 4
    start, end, conf = make_maps(batch, num_t, num_t, gen)
    frames = torch.tensor([1000, 1234, 777, 3001])
    seconds = torch.tensor([33.3, 41.1, 25.9, 100.], dtype=torch.float64)
    durations = bmn_video_duration(seconds, frames, 16)
    dets = bmn_post_process(start, end, conf, durations, ALPHA, LOW, HIGH,
                            top_k)
    assert len(dets) == batch
    for b in range(batch):
        bmn._forward = lambda x, b=b: (conf[b:b + 1], start[b:b + 1], end[b:b +
                                                                          1])
        sample = BaseDataElement(
            metainfo=dict(
                video_name='v',
                duration_frame=int(frames[b]),
                duration_second=float(seconds[b])))
        ref = bmn.predict(torch.zeros(1, 8, num_t), [sample])
        ref = torch.tensor(
            [p['segment'] + [p['score']] for p in ref[0]['proposal_list']],
            dtype=torch.float64)
        assert dets[b].shape == ref.shape
        assert (dets[b] - ref).abs().max() <= 1e-6
        # Sorted by descending score.
        assert (dets[b][1:, 2] <= dets[b][:-1, 2]).all()


def test_bmn_post_process_batch_independent():
    gen = torch.Generator().manual_seed(1)
    start, end, conf = smooth_maps(3, 32, 32, gen)
    together = bmn_post_process(start, end, conf, [1., 2., 3.], ALPHA, LOW,
                                HIGH, 20)
    for b in range(3):
        alone = bmn_post_process(start[b:b + 1], end[b:b + 1], conf[b:b + 1],
                                 [b + 1.], ALPHA, LOW, HIGH, 20)[0]
        assert torch.equal(alone, together[b])


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_bmn_post_process_cuda():
    gen = torch.Generator().manual_seed(2)
    start, end, conf = smooth_maps(4, 100, 100, gen)
    durations = np.array([10., 20., 30., 40.])
    cpu = bmn_post_process(start, end, conf, durations, ALPHA, LOW, HIGH, 100)
    gpu = bmn_post_process(start.cuda(), end.cuda(), conf.cuda(),
                           torch.from_numpy(durations).cuda(), ALPHA, LOW,
                           HIGH, 100)
    for a, b in zip(cpu, gpu):
        assert b.is_cuda and a.shape == b.shape
        assert (a - b.cpu()).abs().max() <= 1e-6
