# Copyright (c) rcl_mm contributors. All rights reserved.
"""G-TAD: GCNeXt, the SGAlign proposal map, the localizer and configs."""
import importlib.util
import os.path as osp

import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

import rcl_mm  # noqa: F401
from rcl_mm.models import ProposalMapLoss
from rcl_mm.models.backbones import GTADBackbone
from rcl_mm.models.backbones.gtad import GCNeXt
from rcl_mm.ops import knn_graph
from rcl_mm.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# The slow, direct SGAlign reference lives with the op's tests.
_spec = importlib.util.spec_from_file_location(
    'test_sg_align', osp.join(ROOT, 'tests', 'test_ops', 'test_sg_align.py'))
_op_tests = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_op_tests)
reference_align1d = _op_tests.reference_align1d
TINY = dict(
    feat_dim=12,
    temporal_dim=16,
    hidden_dim_1d=16,
    hidden_dim_3d=24,
    groups=4,
    width_group=2,
    num_samples=4,
    num_context_samples=2)


def make_samples(batch, seed=0):
    gen = torch.Generator().manual_seed(seed)
    samples = []
    for i in range(batch):
        num = 1 + i % 3
        start = torch.rand(num, generator=gen) * 0.7
        end = (start + 0.05 + torch.rand(num, generator=gen) * 0.3).clamp(
            max=1.0)
        sample = ActionDataSample()
        sample.gt_instances = InstanceData(
            gt_bbox=torch.stack([start, end], 1))
        sample.set_metainfo(
            dict(video_name=f'v_video{i}', duration_second=100.0 + i,
                 duration_frame=3000 + 7 * i, feature_frame=2992 + 7 * i))
        samples.append(sample)
    return samples


def make_localizer(**backbone):
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type='ProposalMapLocalizer',
            backbone=dict(type='GTADBackbone', **dict(TINY, **backbone)),
            head=dict(type='PEMHead', in_channels=24, hidden_channels=8),
            loss=dict(type='ProposalMapLoss', ratio_range=(1.05, 1e8),
                      eps=1e-6)))


def reference_gcnext(block, x):
    """GCNeXt with G-TAD's explicit B x 2C x T x k edge tensor
    ``[x_j, x_i]`` (``get_graph_feature(..., style=1)``), by loops."""
    batch, channels, temporal_dim = x.shape
    index = knn_graph(x, block.k)
    edge = torch.zeros(batch, 2 * channels, temporal_dim, block.k,
                       dtype=x.dtype)
    for b in range(batch):
        for i in range(temporal_dim):
            for j in range(block.k):
                edge[b, :channels, i, j] = x[b, :, index[b, i, j]]
                edge[b, channels:, i, j] = x[b, :, i]
    semantic = block.sconvs(edge).amax(-1)
    return (x + block.tconvs(x) + semantic).relu()


def test_gcnext_equals_explicit_edge_convolution():
    torch.manual_seed(0)
    block = GCNeXt(16, k=3, groups=4, width_group=2).double()
    x = torch.randn(2, 16, 9, dtype=torch.float64)
    assert torch.allclose(block(x), reference_gcnext(block, x), atol=1e-12)


def test_gcnext_shapes_and_gradients():
    torch.manual_seed(0)
    block = GCNeXt(32, k=3, groups=32, width_group=4)
    x = torch.randn(3, 32, 20, requires_grad=True)
    out = block(x)
    assert out.shape == (3, 32, 20)
    assert float(out.detach().min()) >= 0
    out.square().sum().backward()
    for name, param in block.named_parameters():
        assert param.grad is not None and float(param.grad.abs().sum()) > 0,\
            name
    assert float(x.grad.abs().sum()) > 0
    # The grouped convs: 32 groups of 4 channels, 3-wide in time.
    assert block.tconvs[2].groups == 32 and block.tconvs[2].kernel_size == (
        3, )
    assert block.sconvs[0].in_channels == 64


def test_gcnext_semantic_graph_follows_features_not_time():
    # Snippets far apart in time but equal in features are neighbours, so
    # the semantic branch reads them; the temporal branch does not.
    block = GCNeXt(4, k=2, groups=1, width_group=4).double()
    x = torch.zeros(1, 4, 8, dtype=torch.float64)
    x[0, :, 0] = x[0, :, 7] = torch.tensor([1., 2., 3., 4.])
    assert knn_graph(x, 2)[0, 0].tolist() == [0, 7]
    with torch.no_grad():
        for conv in block.sconvs[::2]:
            conv.weight.zero_()
            conv.bias.zero_()
        block.sconvs[0].weight[0, :4] = 1  # sum of x_j - x_i: the edge
        block.sconvs[0].weight[0, 4:] = -1  # is [x_j, x_i]
        block.sconvs[2].weight[0, 0] = 1
        block.sconvs[4].weight[:, 0] = 1
        x[0, 0, 7] = 5.  # x_7 - x_0 sums to 4, x_0 - x_7 to -4
        index = knn_graph(x, 2)
        semantic = block.semantic(x, index)
    assert index[0, 0].tolist() == [0, 7]
    assert semantic[0, :, 0].tolist() == [4.] * 4
    assert semantic[0, :, 7].tolist() == [0.] * 4


def reference_graph_align(x, context, temporal_dim, duration_dim,
                          inner_bins, context_bins, points=None):
    """G-TAD's GraphAlign: anchors as its ``_get_anchors`` lists them
    (start major; past the window's end as the region [0, 0]), each read
    by :func:`reference_align1d`; B x C * (N_i + N_c) x D x T, channel
    ``c * (N_i + N_c) + n``."""
    batch, channels, _ = x.shape
    out = torch.zeros(batch, channels * (inner_bins + context_bins),
                      duration_dim, temporal_dim, dtype=x.dtype)
    for b in range(batch):
        for start in range(temporal_dim):
            for duration in range(duration_dim):
                if start + duration < temporal_dim:
                    length = float(duration) + 1
                    region = (start - length * 0.5,
                              start + duration + length * 0.5)
                else:
                    region = (0., 0.)
                cell = torch.cat([
                    reference_align1d(x[b], *region, inner_bins, points),
                    reference_align1d(context[b], *region, context_bins,
                                      points)
                ], dim=1)
                out[b, :, duration, start] = cell.flatten()
    return out


def reference_grid_map(backbone, proposal_feat, context_feat):
    """Our map from :func:`reference_graph_align`, 1x1 conv and ReLU."""
    sampled = reference_graph_align(proposal_feat, context_feat,
                                    backbone.temporal_dim,
                                    backbone.duration_dim,
                                    backbone.num_samples,
                                    backbone.num_context_samples,
                                    backbone.num_samples_per_bin)
    return backbone.sg_conv(sampled).relu()


@pytest.mark.parametrize('duration_dim,points', [(None, None), (6, None),
                                                  (None, 2)])
def test_backbone_map_equals_reference(duration_dim, points):
    torch.manual_seed(0)
    backbone = GTADBackbone(**dict(TINY, duration_dim=duration_dim,
                                   num_samples_per_bin=points))
    backbone = backbone.double()
    x = torch.randn(2, 12, 16, dtype=torch.float64)
    with torch.no_grad():
        out = backbone(x)
        expected = reference_grid_map(backbone, out['proposal_feat'],
                                      out['context_feat'])
    duration_dim = duration_dim or 16
    assert out['proposal_map'].shape == (2, 24, duration_dim, 16)
    assert torch.allclose(out['proposal_map'], expected, atol=1e-10)
    assert out['start'].shape == out['end'].shape == (2, 16)
    assert 0 < float(out['start'].min()) < float(out['start'].max()) < 1
    # The context is the kNN mean (self included) of the GCNeXt features.
    index = knn_graph(out['proposal_feat'], 3)
    assert torch.allclose(
        out['context_feat'][1, :, 5],
        out['proposal_feat'][1][:, index[1, 5]].mean(-1))
    mask = torch.ones(duration_dim, 16)
    for d in range(duration_dim):
        mask[d, 16 - d:] = 0
    assert torch.equal(backbone.valid_mask, mask)


def test_segment_features_on_the_grid_equal_the_map():
    torch.manual_seed(0)
    backbone = GTADBackbone(**TINY).double()
    x = torch.randn(2, 12, 16, dtype=torch.float64)
    cells = [(0, 0), (3, 5), (15, 0), (2, 13)]
    segments = torch.tensor([[t, t + d + 1.] for d, t in cells],
                            dtype=torch.float64).expand(2, -1, -1)
    with torch.no_grad():
        out = backbone(x)
        got = backbone.segment_features(out['proposal_feat'], segments)
    for k, (d, t) in enumerate(cells):
        assert torch.allclose(got[:, :, k], out['proposal_map'][:, :, d, t],
                              atol=1e-12)


def test_state_dict_has_no_sampling_plan_and_g_tad_shapes():
    backbone = GTADBackbone(feat_dim=400, temporal_dim=100)
    keys = backbone.state_dict()
    assert not any('sample' in k or 'mask' in k for k in keys)
    # G-TAD's first localisation conv: 256 x (32 + 4) -> 512.
    assert keys['sg_conv.weight'].shape == (512, 9216, 1, 1)
    assert keys['base.0.weight'].shape == (256, 100, 3)
    assert backbone.base[2].tconvs[2].groups == 32


def test_thumos_size_builds_and_runs():
    # T = 256, D = 64 with tiny channels: the contract at G-TAD's THUMOS
    # grid (the kNN runs on 256 snippets in one chunk).
    backbone = GTADBackbone(
        feat_dim=8, temporal_dim=256, duration_dim=64, hidden_dim_1d=32,
        hidden_dim_3d=8, groups=8, width_group=2, num_samples=8)
    with torch.no_grad():
        out = backbone(torch.randn(1, 8, 256))
    assert out['proposal_map'].shape == (1, 8, 64, 256)
    assert backbone.valid_mask.shape == (64, 256)
    assert float(backbone.valid_mask.sum()) == sum(256 - d
                                                   for d in range(64))


def test_localizer_loss_backward_and_predict():
    model = make_localizer()
    model.train()
    samples = make_samples(3)
    inputs = list(torch.randn(3, 12, 16))
    losses = model(inputs, samples, mode='loss')
    values = {k: float(v.detach()) for k, v in losses.items()}
    assert set(losses) == {
        'loss_tem_start', 'loss_tem_end', 'loss_pem_reg', 'loss_pem_cls'
    }
    assert all(0 < v < float('inf') for v in values.values()), values
    sum(losses.values()).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), \
            name
    assert float(model.backbone.sg_conv.weight.grad.abs().sum()) > 0
    model.eval()
    with torch.no_grad():
        results = model(inputs, samples, mode='predict')
        confidence, start, end = model(inputs, None, mode='tensor')
    assert confidence.shape == (3, 2, 16, 16)
    assert [r.video_name for r in results] == [s.video_name for s in samples]
    for i, result in enumerate(results):
        segments = result.pred_instances.segments
        assert len(result.proposal_list) == segments.shape[0] > 0
        assert 0 <= float(segments.min()) and float(segments.max()) <= 100 + i


def test_g_tad_loss_settings_equal_g_tads_formulas():
    # G-TAD's TEM and tIoU classification losses: balanced BCE with an
    # unclamped ratio and eps = 1e-6, written out here.
    gen = torch.Generator().manual_seed(0)
    pred = torch.rand(2, 20, generator=gen)
    label = torch.zeros(2, 20)
    label[0, 3] = label[1, 11] = 1.0  # 2 positives of 40: ratio 20
    label[1, 12] = 0.7  # soft label above 0.5: ratio 40 / 3
    positive = (label > 0.5).float()
    ratio = label.numel() / positive.sum()
    coef_neg, coef_pos = 0.5 * ratio / (ratio - 1), 0.5 * ratio
    expected = -torch.mean(coef_pos * torch.log(pred + 1e-6) * positive +
                           coef_neg * torch.log(1 - pred + 1e-6) *
                           (1 - positive))
    loss = ProposalMapLoss(ratio_range=(1.05, 1e8), eps=1e-6)
    got = loss.tem_loss(pred, pred, label, label)
    assert torch.allclose(got['loss_tem_start'], expected, rtol=1e-6)
    # One positive of 40: ratio 40, which BMN's clamp (at 21) would change.
    label = torch.zeros(2, 20)
    label[1, 0] = 1.0
    expected = -torch.mean(20 * torch.log(pred + 1e-6) * label +
                           (20 / 39) * torch.log(1 - pred + 1e-6) *
                           (1 - label))
    got = loss.tem_loss(pred, pred, label, label)
    assert torch.allclose(got['loss_tem_end'], expected, rtol=1e-6)
    clamped = ProposalMapLoss(eps=1e-6).tem_loss(pred, pred, label, label)
    assert not torch.allclose(clamped['loss_tem_end'], expected, rtol=1e-3)


def build(config):
    cfg = Config.fromfile(osp.join(ROOT, config))
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return cfg, MODELS.build(cfg.model)


def test_gtad_anet_config_has_g_tads_defaults():
    # The authors' branch anet: gtad_lib/opts.py, gtad_train.py, models.py.
    cfg, model = build('configs/gtad_anet.py')
    assert isinstance(model.backbone, GTADBackbone)
    assert (model.backbone.temporal_dim, model.backbone.duration_dim,
            model.backbone.feat_dim) == (100, 100, 400)
    assert (model.backbone.num_samples,
            model.backbone.num_context_samples) == (32, 4)
    assert model.backbone.num_samples_per_bin is None  # adaptive
    assert model.backbone.sg_conv.in_channels == 256 * 36
    assert model.head.kernel_size == 1  # kern_2d = 1, pad_2d = 0
    assert model.head.convs[2].kernel_size == (1, 1)
    assert cfg.optim_wrapper.optimizer.lr == 0.004
    assert cfg.optim_wrapper.optimizer.weight_decay == 1e-4
    assert cfg.optim_wrapper.clip_grad is None  # commented out there
    assert cfg.train_cfg.max_epochs == 10
    assert cfg.param_scheduler[0].milestones == [5]
    assert cfg.auto_scale_lr.base_batch_size == 16
    assert cfg.model.loss.eps == 1e-6
    assert (model.loss_module.weight_pem_reg,
            model.loss_module.weight_pem_cls) == (10.0, 1.0)
    assert model.loss_module.cls_count_offset == 0
    assert (model.test_cfg['post_processing'], model.test_cfg['top_k'],
            model.test_cfg['soft_nms_alpha']) == ('gtad', 100, 0.8)


def test_gtad_thumos_config_has_g_tads_defaults():
    # The authors' branch master.
    cfg, model = build('configs/gtad_thumos.py')
    backbone = model.backbone
    assert (backbone.temporal_dim, backbone.duration_dim,
            backbone.feat_dim) == (256, 64, 2048)
    assert (backbone.num_samples, backbone.num_context_samples) == (16, 16)
    assert backbone.sg_conv.in_channels == 8192
    assert backbone.num_samples_per_bin is None
    assert model.head.convs[2].kernel_size == (3, 3)
    assert model.head.convs[2].padding == (1, 1)
    assert cfg.optim_wrapper.clip_grad == dict(max_norm=1, norm_type=2)
    assert cfg.optim_wrapper.optimizer.lr == 4e-5
    assert (model.loss_module.weight_tem, model.loss_module.weight_pem_reg,
            model.loss_module.weight_pem_cls,
            model.loss_module.cls_count_offset) == (1.0, 1.0, 10.0, 10)
    assert model.test_cfg['post_processing'] == 'gtad'
    assert (model.test_cfg['soft_nms_alpha'], model.test_cfg['top_k'],
            model.test_cfg['window_top_k'],
            model.test_cfg['max_proposal_snippets']) == (0.46, 200, 200, 60)
    for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
        assert evaluator.merge_windows.rule == 'gtad'
        assert evaluator.merge_windows.soft_nms_alpha == 0.46
        assert evaluator.merge_windows.top_k == 200


def test_thumos_cls_loss_equals_the_authors():
    # Branch master's pem_cls_loss_func, transcribed: 10 added to the
    # positives and again to the entries.
    gen = torch.Generator().manual_seed(4)
    pred = torch.rand(2, 6, 12, generator=gen, dtype=torch.float64)
    gt = torch.rand(2, 6, 12, generator=gen, dtype=torch.float64)
    gt[0, 0, :3] = 0.95
    mask = torch.ones(6, 12, dtype=torch.float64)
    for d in range(6):
        mask[d, 12 - d:] = 0
    gt = gt * mask
    pmask = (gt > 0.9).double()
    nmask = (gt <= 0.9).double() * mask
    num_positive = 10 + pmask.sum()
    num_entries = 10 + num_positive + nmask.sum()
    ratio = num_entries / num_positive
    coef_0, coef_1 = 0.5 * ratio / (ratio - 1), 0.5 * ratio
    expected = -torch.sum(coef_1 * torch.log(pred + 1e-6) * pmask +
                          coef_0 * torch.log(1.0 - pred + 1e-6) *
                          nmask) / num_entries
    loss = ProposalMapLoss(weight_pem_reg=1.0, weight_pem_cls=10.0,
                           ratio_range=(1.05, 1e8), eps=1e-6,
                           cls_count_offset=10)
    conf = torch.stack([pred, pred], dim=1)
    got = loss.proposal_loss(conf, gt, mask)['loss_pem_cls']
    assert torch.allclose(got, 10 * expected, rtol=1e-12)
    plain = ProposalMapLoss(weight_pem_cls=10.0, ratio_range=(1.05, 1e8),
                            eps=1e-6)
    assert not torch.allclose(
        plain.proposal_loss(conf, gt, mask)['loss_pem_cls'], got)


@pytest.mark.parametrize('pair', [
    ('configs/rcl_gtad_anet.py', 'configs/rcl_bmn_anet.py'),
    ('configs/demo/rcl_gtad_demo.py', 'configs/demo/rcl_bmn_demo.py'),
])
def test_rcl_gtad_is_rcl_bmn_with_the_g_tad_backbone(pair):
    rcl_gtad, rcl_bmn = (Config.fromfile(osp.join(ROOT, p)) for p in pair)
    assert rcl_gtad.model.backbone.type == 'GTADBackbone'
    for key in ('type', 'head', 'neck', 'loss', 'train_cfg', 'test_cfg'):
        assert rcl_gtad.model[key] == rcl_bmn.model[key], key
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg',
                'train_dataloader'):
        assert rcl_gtad[key] == rcl_bmn[key], key
    _, model = build(pair[0])
    with torch.no_grad():
        confidence, start, end = model(torch.randn(1, 400, 100), None,
                                       mode='tensor')
    assert confidence.shape == (1, 2, 100, 100)


def test_rcl_on_g_tad_reads_exact_segment_features():
    # RCL's 'exact' head mode reads SGAlign features of continuous segments
    # through GTADBackbone.segment_features.
    cfg = Config.fromfile(osp.join(ROOT, 'configs/demo/rcl_gtad_demo.py'))
    cfg.model.backbone.update(TINY)
    cfg.model.head.update(in_channels=24, hidden_channels=8,
                          mlp_channels=8, mode='exact')
    cfg.model.neck.update(in_channels=8, stride=2, iters=2)
    cfg.model.train_cfg.sampler.update(num_random=16, num_jitter=2)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
    model.train()
    losses = model(list(torch.randn(2, 12, 16)), make_samples(2),
                   mode='loss')
    values = {k: float(v.detach()) for k, v in losses.items()}
    assert {'loss_car_reg', 'loss_car_cls'} <= set(values)
    assert all(0 < v < float('inf') for v in values.values()), values
    sum(losses.values()).backward()
    assert float(model.backbone.sg_conv.weight.grad.abs().sum()) > 0
