# Copyright (c) rcl_mm contributors. All rights reserved.
"""G-TAD as its authors' code (github frostinassiky/gtad, branches anet and
master) defines it: a reference model built here in the authors' structure
and parameter names, their Soft_NMS and post-processing transcribed as
plain Python, and tools/convert/gtad_official.py between the two."""
import importlib.util
import math
import os.path as osp
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import DefaultScope

import rcl_mm  # noqa: F401
from rcl_mm.models.task_modules import (gtad_post_process, gtad_soft_nms,
                                        gtad_window_proposals,
                                        merge_window_proposals)
from rcl_mm.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, osp.join(ROOT, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


reference_align1d = _load('test_sg_align',
                          'tests/test_ops/test_sg_align.py').reference_align1d
converter = _load('gtad_official', 'tools/convert/gtad_official.py')

# ---------------------------------------------------------------------------
# The reference model: the authors' GTAD (gtad_lib/models.py), goi_style=1,
# layer for layer under their names, with the slow Align1D reference.


def ref_knn(x, k):
    """The authors' knn: top-k of the negative squared distances."""
    inner = -2 * torch.matmul(x.transpose(2, 1), x)
    xx = torch.sum(x**2, dim=1, keepdim=True)
    pairwise = -xx - inner - xx.transpose(2, 1)
    return pairwise.topk(k=k, dim=-1)[1]


def ref_graph_feature(x, k, style):
    """The authors' get_graph_feature: style 1 -> [x_j, x_i] (B x 2C x T x
    k), style 2 -> x_j (B x C x T x k)."""
    batch, channels, num = x.shape
    idx = ref_knn(x, k) + torch.arange(batch).view(-1, 1, 1) * num
    xt = x.transpose(2, 1).contiguous()
    feature = xt.view(batch * num, -1)[idx.view(-1), :].view(
        batch, num, k, channels)
    if style == 2:
        return feature.permute(0, 3, 1, 2)
    centre = xt.view(batch, num, 1, channels).repeat(1, 1, k, 1)
    return torch.cat((feature, centre), dim=3).permute(0, 3, 1, 2)


class RefGCNeXt(nn.Module):

    def __init__(self, channels, k=3, groups=32, width_group=4):
        super().__init__()
        self.k = k
        width = width_group * groups
        self.tconvs = nn.Sequential(
            nn.Conv1d(channels, width, kernel_size=1), nn.ReLU(True),
            nn.Conv1d(width, width, kernel_size=3, groups=groups,
                      padding=1), nn.ReLU(True),
            nn.Conv1d(width, channels, kernel_size=1))
        self.sconvs = nn.Sequential(
            nn.Conv2d(channels * 2, width, kernel_size=1), nn.ReLU(True),
            nn.Conv2d(width, width, kernel_size=1, groups=groups),
            nn.ReLU(True), nn.Conv2d(width, channels, kernel_size=1))

    def forward(self, x):
        sout = self.sconvs(ref_graph_feature(x, self.k, 1)).max(dim=-1)[0]
        return torch.relu(self.tconvs(x) + x + sout)


class RefGTAD(nn.Module):
    """The authors' GTAD at a given size, anchors of ``_get_anchors``."""

    def __init__(self, feat_dim, tscale, max_duration, h1, h2, h3, groups,
                 inner_bins, context_bins, kern_2d):
        super().__init__()
        self.t, self.d = tscale, max_duration
        self.bins = (inner_bins, context_bins)
        h_goi = h1 * (inner_bins + context_bins)
        self.backbone1 = nn.Sequential(
            nn.Conv1d(feat_dim, h1, kernel_size=3, padding=1, groups=4),
            nn.ReLU(inplace=True), RefGCNeXt(h1, groups=groups))
        self.regu_s = nn.Sequential(
            RefGCNeXt(h1, groups=groups), nn.Conv1d(h1, 1, kernel_size=1),
            nn.Sigmoid())
        self.regu_e = nn.Sequential(
            RefGCNeXt(h1, groups=groups), nn.Conv1d(h1, 1, kernel_size=1),
            nn.Sigmoid())
        self.backbone2 = nn.Sequential(RefGCNeXt(h1, groups=groups))
        pad = kern_2d // 2
        self.localization = nn.Sequential(
            nn.Conv2d(h_goi, h3, kernel_size=1), nn.ReLU(inplace=True),
            nn.Conv2d(h3, h2, kernel_size=1), nn.ReLU(inplace=True),
            nn.Conv2d(h2, h2, kernel_size=kern_2d, padding=pad),
            nn.ReLU(inplace=True),
            nn.Conv2d(h2, h2, kernel_size=kern_2d, padding=pad),
            nn.ReLU(inplace=True), nn.Conv2d(h2, 2, kernel_size=1),
            nn.Sigmoid())

    def graph_align(self, x):
        """GraphAlign.forward (style 1) with the anchors of _get_anchors,
        (bs, C * bins, t, d) viewed and permuted to (bs, ., d, t)."""
        context = ref_graph_feature(x, 3, 2).mean(dim=-1)
        batch = x.size(0)
        cells = []
        for b in range(batch):
            for start in range(self.t):
                for duration in range(self.d):
                    if start + duration < self.t:
                        length = float(duration) + 1
                        region = (start - length * 0.5,
                                  start + duration + length * 0.5)
                    else:
                        region = (0., 0.)
                    cells.append(
                        torch.cat([
                            reference_align1d(x[b], *region, self.bins[0]),
                            reference_align1d(context[b], *region,
                                              self.bins[1])
                        ], dim=1))
        feat = torch.stack(cells).view(batch, self.t, self.d, -1)
        return feat.permute(0, 3, 2, 1)

    def forward(self, snip_feature):
        base = self.backbone1(snip_feature)
        gcnext = self.backbone2(base)
        start = self.regu_s(base).squeeze(1)
        end = self.regu_e(base).squeeze(1)
        return self.localization(self.graph_align(gcnext)), start, end


SETTINGS = {
    # Tiny stand-ins of the two branches: ANet (1x1 head, 32 + 4 bins
    # shrunk to 4 + 2, D = T) and THUMOS14 (3x3 head, equal bins, D < T).
    'anet': dict(feat_dim=8, tscale=12, max_duration=12, h1=16, h2=8,
                 h3=12, groups=4, inner_bins=4, context_bins=2, kern_2d=1),
    'thumos': dict(feat_dim=8, tscale=14, max_duration=6, h1=16, h2=8,
                   h3=12, groups=4, inner_bins=3, context_bins=3,
                   kern_2d=3),
}


def our_model(setting):
    s = SETTINGS[setting]
    return MODELS.build(
        dict(
            type='ProposalMapLocalizer',
            backbone=dict(
                type='GTADBackbone', feat_dim=s['feat_dim'],
                temporal_dim=s['tscale'], duration_dim=s['max_duration'],
                hidden_dim_1d=s['h1'], hidden_dim_3d=s['h3'],
                groups=s['groups'], width_group=4,
                num_samples=s['inner_bins'],
                num_context_samples=s['context_bins']),
            head=dict(type='PEMHead', in_channels=s['h3'],
                      hidden_channels=s['h2'], kernel_size=s['kern_2d'])))


@pytest.mark.parametrize('setting', ['anet', 'thumos'])
def test_converted_weights_give_the_reference_models_outputs(
        setting, tmp_path):
    torch.manual_seed(0)
    reference = RefGTAD(**SETTINGS[setting]).double().eval()
    # As gtad_train.py saves it: a DataParallel model's state dict.
    src = tmp_path / 'GTAD_best.pth.tar'
    torch.save(
        dict(epoch=7, state_dict={
            'module.' + k: v.float()
            for k, v in reference.state_dict().items()
        }), src)
    checkpoint = torch.load(src)
    converted = converter.convert_gtad_official(checkpoint['state_dict'])
    ours = our_model(setting).eval()
    ours.load_state_dict(converted, strict=True)
    reference.float().double()  # the same float32-rounded weights
    x = torch.randn(2, SETTINGS[setting]['feat_dim'],
                    SETTINGS[setting]['tscale'])
    with torch.no_grad():
        want = reference(x.double())
        got = ours(x, None, mode='tensor')
    for g, w in zip(got, want):
        assert g.shape == w.shape
        rel = float((g.double() - w).norm() / w.norm())
        assert rel <= 1e-5, rel
        assert float((g.double() - w).abs().max() / w.abs().max()) <= 1e-5


def test_converter_cli_and_the_other_setting(tmp_path):
    # Full-size authors' checkpoints of both branches (weights only).
    full = dict(h1=256, h2=128, h3=512, groups=32)
    anet = RefGTAD(feat_dim=400, tscale=1, max_duration=1, inner_bins=32,
                   context_bins=4, kern_2d=1, **full)
    thumos = RefGTAD(feat_dim=2048, tscale=1, max_duration=1, inner_bins=16,
                     context_bins=16, kern_2d=3, **full)
    paths = {}
    for name, model in (('anet', anet), ('thumos', thumos)):
        paths[name] = tmp_path / f'{name}.pth.tar'
        torch.save(
            dict(epoch=10, state_dict={
                'module.' + k: v
                for k, v in model.state_dict().items()
            }), paths[name])
    dst = tmp_path / 'gtad_thumos.pth'
    done = subprocess.run([
        sys.executable, osp.join(ROOT, 'tools/convert/gtad_official.py'),
        str(paths['thumos']), str(dst), '--config', 'configs/gtad_thumos.py'
    ], capture_output=True, text=True, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    cfg = Config.fromfile(osp.join(ROOT, 'configs/gtad_thumos.py'))
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
    checkpoint = torch.load(dst)
    model.load_state_dict(checkpoint['state_dict'], strict=True)
    assert checkpoint['meta']['converted_from']['epoch'] == 10
    assert torch.equal(model.head.convs[2].weight,
                       thumos.localization[4].weight)
    # The THUMOS14 checkpoint for the ActivityNet config: one line that
    # names the config to use.
    refused = subprocess.run([
        sys.executable, osp.join(ROOT, 'tools/convert/gtad_official.py'),
        str(paths['thumos']), str(tmp_path / 'x.pth')
    ], capture_output=True, text=True, cwd=str(tmp_path))
    assert refused.returncode != 0
    assert 'Traceback' not in refused.stderr
    # (Other lines are the environment's import warnings.)
    message = refused.stderr.strip().splitlines()[-1]
    assert message.startswith('error: ')
    assert '--config configs/gtad_thumos.py' in message
    assert '2048-d features' in message and str(paths['thumos']) in message
    assert not (tmp_path / 'x.pth').exists()
    # And the ActivityNet one converts for its own config, in process.
    converter.convert_file(str(paths['anet']), str(tmp_path / 'a.pth'))
    with pytest.raises(converter.ConversionError, match='gtad_anet.py'):
        converter.convert_file(str(paths['anet']), str(tmp_path / 'b.pth'),
                               'configs/gtad_thumos.py')
    with pytest.raises(converter.ConversionError, match='not G-TAD'):
        converter.convert_gtad_official({'module.fc.weight': torch.ones(1)})


# ---------------------------------------------------------------------------
# Post-processing: the authors' Soft_NMS and its callers, transcribed.


def official_iou(s1, e1, s2, e2):
    if (s2 > e1) or (s1 > e2):
        return 0
    union = max(e1, e2) - min(s1, s2)
    inter = min(e1, e2) - max(s1, s2)
    return float(inter) / union


def official_soft_nms(props, nms_threshold, num_prop, drop_frames=None):
    """gtad_postprocess.py's Soft_NMS on (xmin, xmax, score) rows; the sort
    by descending score is stable (pandas' sort_values for ties)."""
    props = sorted(props, key=lambda p: -p[2])
    tstart = [p[0] for p in props]
    tend = [p[1] for p in props]
    tscore = [p[2] for p in props]
    if drop_frames is not None:  # branch master: the 300-frame trick
        for idx in range(0, len(tscore)):
            if tend[idx] - tstart[idx] >= drop_frames:
                tscore[idx] = 0
    rstart, rend, rscore = [], [], []
    while len(tscore) > 1 and len(rscore) < num_prop and max(tscore) > 0:
        max_index = tscore.index(max(tscore))
        for idx in range(0, len(tscore)):
            if idx != max_index:
                tmp_iou = official_iou(tstart[max_index], tend[max_index],
                                       tstart[idx], tend[idx])
                if tmp_iou > 0:
                    tscore[idx] = tscore[idx] * math.exp(
                        -tmp_iou**2 / nms_threshold)
        rstart.append(tstart[max_index])
        rend.append(tend[max_index])
        rscore.append(tscore[max_index])
        tstart.pop(max_index)
        tend.pop(max_index)
        tscore.pop(max_index)
    return list(zip(rstart, rend, rscore))


def official_anet_video(start, end, cls, reg, duration, nms_thr=0.8):
    """gtad_inference.py (branch anet) candidates and _gen_detection_video's
    proposals (before the class labels), for one video."""
    tscale = len(start)
    max_start, max_end = max(start), max(end)
    start_bins = [0] * tscale
    start_bins[0] = 1
    end_bins = [0] * tscale
    end_bins[-1] = 1
    for idx in range(1, tscale - 1):
        if start[idx] > start[idx + 1] and start[idx] > start[idx - 1]:
            start_bins[idx] = 1
        elif start[idx] > (0.5 * max_start):
            start_bins[idx] = 1
        if end[idx] > end[idx + 1] and end[idx] > end[idx - 1]:
            end_bins[idx] = 1
        elif end[idx] > (0.5 * max_end):
            end_bins[idx] = 1
    props = []
    for idx in range(len(cls)):
        for jdx in range(tscale):
            end_index = jdx + idx + 1
            if (end_index < tscale and start_bins[jdx] == 1
                    and end_bins[end_index] == 1):
                props.append((jdx / tscale, end_index / tscale,
                              cls[idx][jdx] * reg[idx][jdx]))
    if len(props) > 1:
        props = official_soft_nms(props, nms_thr, 100)
    props = sorted(props, key=lambda p: -p[2])
    return [(max(0, s) * duration, min(1, e) * duration, score)
            for s, e, score in props[:100]]


def seeded_maps(batch, num_d, num_t, levels, seed):
    """Confidence maps and boundaries with values on ``levels`` steps, so
    that many scores tie."""
    gen = torch.Generator().manual_seed(seed)
    conf = torch.randint(1, levels + 1, (batch, 2, num_d, num_t),
                         generator=gen).double() / levels
    start = torch.rand(batch, num_t, generator=gen, dtype=torch.float64)
    end = torch.rand(batch, num_t, generator=gen, dtype=torch.float64)
    return conf, start, end


@pytest.mark.parametrize('levels', [4, 1000])
def test_anet_post_processing_equals_the_authors(levels):
    conf, start, end = seeded_maps(3, 20, 20, levels, seed=levels)
    durations = [61.5, 100.0, 7.25]
    got = gtad_post_process(start, end, conf, durations, 0.8, 100)
    for b in range(3):
        want = official_anet_video(start[b].tolist(), end[b].tolist(),
                                   conf[b, 1].tolist(), conf[b, 0].tolist(),
                                   durations[b])
        assert got[b].shape == (len(want), 3)
        assert got[b][:, :2].tolist() == [[s, e] for s, e, _ in want]
        assert torch.allclose(got[b][:, 2],
                              torch.tensor([x for _, _, x in want],
                                           dtype=torch.float64),
                              rtol=1e-12, atol=0)


def test_gtad_soft_nms_stopping_rules():
    # The last remaining candidate is never picked; a lone one is kept
    # only with keep_single; picks stop at score 0; touching segments do
    # not decay each other.
    segs = torch.tensor([[[0., 1.], [1., 2.], [5., 6.]]])
    scores = torch.tensor([[0.9, 0.8, 0.7]])
    valid = torch.ones(1, 3, dtype=torch.bool)
    out_segs, out_scores, out_valid = gtad_soft_nms(segs, scores, valid, 0.8,
                                                    10)
    assert out_valid.tolist() == [[True, True, False]]
    assert torch.allclose(out_scores[0, :2].float(),
                          torch.tensor([0.9, 0.8]))
    one = gtad_soft_nms(segs[:, :1], scores[:, :1], valid[:, :1], 0.8, 10)
    assert one[2].tolist() == [[False]]
    kept = gtad_soft_nms(segs[:, :1], scores[:, :1], valid[:, :1], 0.8, 10,
                         keep_single=True)
    assert kept[2].tolist() == [[True]] and float(kept[1][0, 0]) == \
        pytest.approx(0.9)
    # Too long (>= 1.5): score 0, never picked, but still "remaining", so
    # every other candidate can be picked.
    long = gtad_soft_nms(segs, scores, valid, 0.8, 10, max_length=1.0)
    assert long[2].tolist() == [[False, False, False]]
    segs2 = torch.tensor([[[0., 1.], [3., 4.], [5., 9.]]])
    picked = gtad_soft_nms(segs2, scores, valid, 0.8, 10, max_length=2.0)
    assert picked[2].tolist() == [[True, True, False]]


def official_thumos_video(windows, nms_thr=0.46, skip=5, num_prop=200):
    """gtad_inference.py (branch master) per window and _gen_detection_video
    without labels: windows are (offset frames, cls, reg) in window order.
    """
    dfs = []
    for offset, cls, reg in windows:
        tscale = len(cls[0])
        props = []
        for idx in range(len(cls)):
            for jdx in range(tscale):
                end_index = jdx + idx + 1
                if end_index < tscale:
                    props.append((jdx * skip + offset,
                                  end_index * skip + offset,
                                  cls[idx][jdx] * reg[idx][jdx]))
        dfs.extend(official_soft_nms(props, nms_thr, 200, drop_frames=300))
    if len(dfs) > 1:
        dfs = official_soft_nms(dfs, nms_thr, 200, drop_frames=300)
    dfs = sorted(dfs, key=lambda p: -p[2])
    return dfs[:num_prop]


@pytest.mark.parametrize('levels', [3, 1000])
def test_thumos_post_processing_equals_the_authors(levels):
    # Two windows of T = 96 with D = 64 (lengths up to 64 snippets, so the
    # 60-snippet = 300-frame rule bites), overlapping by half.
    conf, _, _ = seeded_maps(2, 64, 96, levels, seed=levels + 1)
    starts = [0, 48]
    # 10 fps: 0.5 s per snippet, a power of two, so our IoUs in seconds
    # are the authors' IoUs in frames to the bit (ties included).
    fps = 10.0
    step = 5 / fps
    windows = gtad_window_proposals(conf, starts, [step, step], 0.46, 200,
                                    60)
    merged = merge_window_proposals([torch.cat(windows)], 0.46, top_k=200,
                                    rule='gtad')[0]
    want = official_thumos_video([(s * 5, conf[b, 1].tolist(),
                                   conf[b, 0].tolist())
                                  for b, s in enumerate(starts)])
    assert merged.shape == (len(want), 3)
    frames = torch.tensor([[s, e] for s, e, _ in want], dtype=torch.float64)
    assert torch.equal(merged[:, :2] * fps, frames)
    assert torch.allclose(merged[:, 2],
                          torch.tensor([x for _, _, x in want],
                                       dtype=torch.float64),
                          rtol=1e-12, atol=0)
    assert float((merged[:, 1] - merged[:, 0]).max()) * fps < 300
