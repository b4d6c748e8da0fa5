# Copyright (c) rcl_mm contributors. All rights reserved.
"""RCLLocalizer: losses, the shared read of F, scoring and prediction,
mmaction2 BMN initialisation, the RCL configs."""
import os.path as osp

import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint

import rcl_mm  # noqa: F401
from mmaction.models import BMN as MMBMN  # noqa: E402,I001
from rcl_mm.models import (BMNBackbone, RCLLocalizer,  # noqa: E402
                           RRMRefiner)
from rcl_mm.registry import MODELS  # noqa: E402
from rcl_mm.utils import convert_mmaction2_bmn  # noqa: E402
from devices import requires_cuda  # noqa: E402
from rcl_helpers import (C_IN, ROOT, D, T, grid_cells,  # noqa: E402
                         make_samples, randomize, tiny_model)


#: Loss dicts of the three models of test_loss_dict_is_unchanged_to_the_bit,
#: as float.hex, computed by the code before the losses had their owners
#: (head, neck) and the RRM was the localizer's ``refiner``.
EXPECTED_LOSSES = {
    'light_nearest': [
        ('loss_pem_reg', '0x1.202c660000000p-1'),
        ('loss_pem_cls', '0x1.3dd2da0000000p-2'),
        ('loss_tem_start', '0x1.6845a20000000p-1'),
        ('loss_tem_end', '0x1.651cb80000000p-1'),
        ('loss_car_reg', '0x1.1a28000000000p-1'),
        ('loss_car_cls', '0x1.9455860000000p-2'),
        ('loss_rrm_it1_reg', '0x1.dd7a5c0000000p-2'),
        ('loss_rrm_it1_cls', '0x1.944f3a0000000p-3'),
        ('loss_rrm_it2_reg', '0x1.b7859a0000000p-1'),
        ('loss_rrm_it2_cls', '0x1.f6e1100000000p-3'),
        ('loss_rrm_it3_reg', '0x1.2acbe60000000p+0'),
        ('loss_rrm_it3_cls', '0x1.3666c20000000p-2'),
    ],
    'light_exact': [
        ('loss_pem_reg', '0x1.108cb00000000p-1'),
        ('loss_pem_cls', '0x1.38d8200000000p-2'),
        ('loss_tem_start', '0x1.6845a20000000p-1'),
        ('loss_tem_end', '0x1.651cb80000000p-1'),
        ('loss_car_reg', '0x1.1336740000000p-1'),
        ('loss_car_cls', '0x1.89cb1a0000000p-2'),
        ('loss_rrm_it1_reg', '0x1.c9ea1c0000000p-2'),
        ('loss_rrm_it1_cls', '0x1.792eee0000000p-3'),
        ('loss_rrm_it2_reg', '0x1.ae58660000000p-1'),
        ('loss_rrm_it2_cls', '0x1.b83fb40000000p-3'),
        ('loss_rrm_it3_reg', '0x1.28b8c60000000p+0'),
        ('loss_rrm_it3_cls', '0x1.fd91b60000000p-3'),
    ],
    'raft_bilinear': [
        ('loss_pem_reg', '0x1.202c660000000p-1'),
        ('loss_pem_cls', '0x1.3dd2da0000000p-2'),
        ('loss_tem_start', '0x1.6845a20000000p-1'),
        ('loss_tem_end', '0x1.651cb80000000p-1'),
        ('loss_car_reg', '0x1.1a28ce0000000p-1'),
        ('loss_car_cls', '0x1.944ba80000000p-2'),
        ('loss_rrm_it1_reg', '0x1.3f6f0e0000000p-3'),
        ('loss_rrm_it1_cls', '0x1.7629840000000p-4'),
        ('loss_rrm_it2_reg', '0x1.e79c8a0000000p-3'),
        ('loss_rrm_it2_cls', '0x1.cc33dc0000000p-4'),
        ('loss_rrm_it3_reg', '0x1.3f8b420000000p-2'),
        ('loss_rrm_it3_cls', '0x1.1f37e00000000p-3'),
        ('loss_rrm_it4_reg', '0x1.25c11e0000000p-1'),
        ('loss_rrm_it4_cls', '0x1.6b8f840000000p-3'),
    ],
}


@pytest.mark.parametrize('mode', ['nearest', 'bilinear', 'exact'])
def test_loss_parts_and_gradients(mode):
    model = tiny_model(mode=mode)
    randomize(model)
    losses = model(torch.randn(3, C_IN, T), make_samples(3), mode='loss')
    expected = {'loss_tem_start', 'loss_tem_end', 'loss_pem_reg',
                'loss_pem_cls', 'loss_car_reg', 'loss_car_cls'}
    expected |= {f'loss_rrm_it{i}_{p}' for i in (1, 2, 3)
                 for p in ('reg', 'cls')}
    assert set(losses) == expected
    assert all(torch.isfinite(v) and v >= 0 for v in losses.values())
    sum(losses.values()).backward()
    for name, param in model.named_parameters():
        if name.startswith('backbone.bm_conv') or 'tem_' in name:
            continue
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    assert model.backbone.bm_conv.weight.grad.abs().sum() > 0


def assert_same_training_step(models, inputs, samples):
    """Two models (the same weights, computed differently) give the same
    losses and parameter gradients, to float32 rounding."""
    results = []
    for model in models:
        torch.manual_seed(5)  # the segment sampler and the loss draw
        losses = model(inputs, samples, mode='loss')
        sum(losses.values()).backward()
        results.append((losses, {n: p.grad for n, p in
                                 model.named_parameters()
                                 if p.grad is not None}))
    (losses, grads), (other_losses, other_grads) = results
    assert set(other_losses) == set(losses)
    for name, value in losses.items():
        # float32 sums in another order: equal to rounding.
        torch.testing.assert_close(other_losses[name], value, rtol=1e-5,
                                   atol=1e-6)
    assert set(other_grads) == set(grads)
    for name, grad in grads.items():
        torch.testing.assert_close(other_grads[name], grad, rtol=1e-4,
                                   atol=1e-5)


def test_dense_car_align_gives_the_same_losses_and_gradients():
    """backbone.car_align_impl='dense' (the GPU option) changes how the
    taps are summed, not what the model computes: exact mode reads
    CARAlign both on the grid and at the refined segments."""
    models = []
    for impl in ('gather', 'dense'):
        model = tiny_model(mode='exact')
        model.backbone.car_align_impl = impl
        randomize(model)
        models.append(model)
    assert_same_training_step(models, torch.randn(3, C_IN, T),
                              make_samples(3))
    with pytest.raises(ValueError, match='car_align_impl'):
        BMNBackbone(feat_dim=C_IN, temporal_dim=T, car_align_impl='cuda')


@requires_cuda
@pytest.mark.usefixtures('exact_float32')
@pytest.mark.parametrize('impl', ['gather', 'dense', 'triton'])
@pytest.mark.parametrize('mode', ['nearest', 'exact'])
def test_cuda_equals_cpu(impl, mode):
    """On CUDA, with each CARAlign impl: the tensor outputs equal the
    CPU's, and so do the loss parts that take no random draw (CPU and
    CUDA draw different numbers from one seed). Which parts those are is
    found on the CPU: they stay put under another seed."""
    model = tiny_model(mode=mode)  # the CPU runs impl='gather'
    randomize(model)
    inputs, samples = torch.randn(3, C_IN, T), make_samples(3)
    with torch.no_grad():
        cpu_out = model.eval()(inputs, samples, mode='tensor')
    model.train()
    cpu_losses = []
    for seed in (5, 6):
        torch.manual_seed(seed)
        with torch.no_grad():
            cpu_losses.append(model(inputs, samples, mode='loss'))
    fixed = {k for k, v in cpu_losses[0].items()
             if torch.equal(v, cpu_losses[1][k])}
    assert {'loss_tem_start', 'loss_tem_end', 'loss_pem_cls'} <= fixed

    model.cuda()
    model.backbone.car_align_impl = impl
    for sample in samples:
        sample.gt_instances = sample.gt_instances.to('cuda')
    with torch.no_grad():
        cuda_out = model.eval()(inputs.cuda(), samples, mode='tensor')
    for got, want in zip(cuda_out, cpu_out):
        assert got.is_cuda
        torch.testing.assert_close(got.cpu(), want, rtol=1e-4, atol=1e-5)
    torch.manual_seed(5)
    losses = model.train()(inputs.cuda(), samples, mode='loss')
    assert set(losses) == set(cpu_losses[0])
    for name in fixed:
        torch.testing.assert_close(losses[name].cpu(), cpu_losses[0][name],
                                   rtol=1e-4, atol=1e-6)
    sum(losses.values()).backward()
    for name, param in model.named_parameters():
        assert param.grad is None or torch.isfinite(param.grad).all(), name


def twin_models(make, stride):
    """Two models of ``make()`` with the same non-zero weights and the
    neck at ``stride``."""
    models = []
    for _ in range(2):
        model = make()
        model.neck.stride = stride
        randomize(model)
        models.append(model)
    return models


@pytest.mark.parametrize('stride', [2, 5])
def test_shared_read_of_f_gives_the_same_losses_and_gradients(
        stride, monkeypatch):
    """The localizer reads F once for the head and the neck
    (project_and_pool); each module reading F itself gives the same
    losses and gradients. Stride 5 leaves partial windows (12 x 16)."""
    models = twin_models(tiny_model, stride)
    terms, features = models[0].read_features(torch.randn(2, 8, D, T))
    assert terms.shape == (2, 10, D, T)
    assert features[0].shape == (2, 4, D, T)
    assert features[1].shape == (2, 8, -(-D // stride), -(-T // stride))
    monkeypatch.setattr(models[1], 'read_features', lambda feat, iters:
                        (models[1].head.cell_terms(feat), None))
    assert_same_training_step(models, torch.randn(3, C_IN, T),
                              make_samples(3))


def test_neck_reads_f_itself_where_it_would_read_it_differently():
    feat = torch.randn(1, 8, D, T)
    model = tiny_model()
    assert model.read_features(feat, iters=0)[1] is None
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert model.read_features(feat)[1] is None
    model.neck.stride = 1
    assert model.read_features(feat)[1] is None
    model.neck.stride, model.neck.mixed_precision = 2, True
    assert model.read_features(feat)[1] is None
    model.neck.mixed_precision = False
    terms, (fine, coarse) = model.read_features(feat)
    torch.testing.assert_close(terms, model.head.cell_terms(feat))
    want_fine, want_coarse = model.neck.read_features(feat)
    torch.testing.assert_close(fine, want_fine)
    torch.testing.assert_close(coarse, want_coarse)
    # The neck's public door: any other 1x1 layer read with its own.
    weight, bias = torch.randn(3, 8), torch.randn(3)
    other, (fine, coarse) = model.neck.read_shared(feat, (weight, bias))
    torch.testing.assert_close(
        other, torch.einsum('oc,bcdt->bodt', weight, feat) +
        bias[:, None, None], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fine, want_fine)
    assert model.neck.read_shared(feat, (weight, bias), iters=0) is None


def test_grid_only_training_has_no_car_loss():
    model = tiny_model(train_cfg=dict(sampler=None))
    losses = model(torch.randn(1, C_IN, T), make_samples(1), mode='loss')
    assert not any(k.startswith('loss_car') for k in losses)
    with pytest.raises(KeyError, match='samplr'):
        tiny_model(train_cfg=dict(samplr=None))


def scoring_case_model(scoring):
    """An RCL model on a 4-snippet, 3-duration grid whose network outputs
    are the hand-made maps of :func:`test_scoring_rules_by_hand`; Soft-NMS
    never decays (thresholds 1), so the detections are the candidates by
    score."""
    torch.manual_seed(0)
    model = RCLLocalizer(
        backbone=dict(type='BMNBackbone', feat_dim=C_IN, temporal_dim=4,
                      duration_dim=3, num_samples=4, hidden_dim_1d=8,
                      hidden_dim_3d=8),
        head=dict(type='RCLHead', in_channels=8, hidden_channels=4,
                  mlp_channels=4),
        neck=dict(type='RRMRefiner', in_channels=4, iters=1),
        test_cfg=dict(scoring=scoring, top_k=20, soft_nms_low_threshold=1.,
                      soft_nms_high_threshold=1.)).eval()
    # reg and cls of the cells (d, t) = segment [t, t + d + 1]; the cells
    # past the window's end (t + d > 3) are no anchors: 0.99 there must
    # not show.
    reg = torch.tensor([[.5, .2, .6, .5], [.3, .9, .7, .99],
                        [.4, .5, .99, .99]])
    cls = torch.tensor([[.5, .5, .6, .4], [.1, .9, .1, .99],
                        [.4, .6, .99, .99]])
    # BMN's bins: starts 0 (always) and 2 (a peak); ends 1 (a peak) and 3
    # (always). Its candidates: [0, 1], [0, 3], [2, 3].
    start = torch.tensor([[.9, .1, .2, .1]])
    end = torch.tensor([[.1, .6, .2, .8]])
    conf = torch.stack((reg, cls))[None]
    model._forward = lambda inputs: (conf, start, end)
    return model


# Candidates of the hand-made maps: (start, end) in snippets and score.
# The supplement: every valid cell, reg x cls; the boundary
# probabilities play no part, and cells that end at T (not BMN
# candidates) count.
SUPPLEMENT_CANDIDATES = [
    ((0, 1), .25), ((1, 2), .10), ((2, 3), .36), ((3, 4), .20),
    ((0, 2), .03), ((1, 3), .81), ((2, 4), .07),
    ((0, 3), .16), ((1, 4), .30)]


# BMN: its three candidates, p_start x p_end x reg x cls.
BMN_CANDIDATES = [((0, 1), .9 * .6 * .25), ((2, 3), .2 * .8 * .36),
                  ((0, 3), .9 * .8 * .16)]


@pytest.mark.parametrize('scoring, expected', [
    ('supplement', SUPPLEMENT_CANDIDATES), ('bmn', BMN_CANDIDATES)])
def test_scoring_rules_by_hand(scoring, expected):
    model = scoring_case_model(scoring)
    x = torch.zeros(1, C_IN, 4)
    segments, scores, valid = model.window_candidates(x)
    assert valid.all()
    got = [((round(float(s) * 4), round(float(e) * 4)), float(v))
           for (s, e), v in zip(segments[0], scores[0])]
    assert [g[0] for g in got] == [e[0] for e in expected]
    assert [g[1] for g in got] == pytest.approx([e[1] for e in expected])
    # Detections of a 20 s video (5 s per snippet), by descending score:
    # the two rules rank [0, 1], [0, 3] and [2, 3] in opposite orders,
    # and the supplement's best, [1, 3], is no BMN candidate.
    sample = ActionDataSample()
    sample.set_metainfo(dict(video_name='v_0', duration_second=20.))
    (result, ) = model.predict(x, [sample])
    ranked = sorted(expected, key=lambda c: -c[1])
    torch.testing.assert_close(
        result.pred_instances.segments,
        5 * torch.tensor([c[0] for c in ranked], dtype=torch.float32))
    torch.testing.assert_close(
        result.pred_instances.scores,
        torch.tensor([c[1] for c in ranked], dtype=torch.float32))
    if scoring == 'supplement':
        assert result.proposal_list[0]['segment'] == [5., 15.]
    else:
        assert result.proposal_list[0]['segment'] == [0., 5.]


def test_scoring_key_checked():
    with pytest.raises(ValueError, match='scoring'):
        tiny_model(test_cfg=dict(scoring='gtad'))
    assert tiny_model().test_cfg['scoring'] == 'supplement'


@pytest.mark.parametrize('anchors', ['grid', 'scale_invariant'])
def test_predict(anchors):
    model = tiny_model(test_cfg=dict(anchors=anchors, top_k=10,
                                     num_scales=4)).eval()
    randomize(model)
    with torch.no_grad():
        results = model(torch.randn(3, C_IN, T), make_samples(3),
                        mode='predict')
    assert len(results) == 3
    for result in results:
        segments = result.pred_instances.segments
        scores = result.pred_instances.scores
        assert 0 < len(scores) <= 10
        assert (scores[:-1] >= scores[1:]).all()
        assert segments.min() >= 0 and segments.max() <= 20.0 + 1e-4
        assert (segments[:, 1] > segments[:, 0]).all()


@pytest.mark.parametrize('scoring', ['supplement', 'bmn'])
def test_scale_invariant_scores_on_the_grid_equal_the_refined_map(scoring):
    model = tiny_model(test_cfg=dict(scoring=scoring)).eval()
    randomize(model)
    x = torch.randn(2, C_IN, T)
    segments = grid_cells(T, D)[None].expand(2, -1, -1)
    with torch.no_grad():
        conf_map, start, end = model(x, None, mode='tensor')
        conf, scores = model.score_segments(x, segments)
    torch.testing.assert_close(conf.view(2, 2, D, T), conf_map, rtol=1e-5,
                               atol=1e-6)
    if scoring == 'supplement':
        # reg x cls, in float64; the boundary probabilities unused.
        expected = conf_map[:, 0].double() * conf_map[:, 1].double()
        torch.testing.assert_close(scores.view(2, D, T), expected,
                                   rtol=1e-5, atol=1e-7)
        return
    d = torch.arange(D)[:, None]
    t = torch.arange(T)[None]
    end_idx = (t + d + 1).clamp(max=T - 1)
    expected = (start[:, t.expand(D, T)] * end[:, end_idx] *
                conf_map[:, 0] * conf_map[:, 1])
    torch.testing.assert_close(scores.view(2, D, T), expected)


def test_mmaction2_bmn_checkpoint_initialises_rcl():
    """The converted mmaction2 BMN loads by name; the map is BMN's."""
    torch.manual_seed(0)
    reference = MMBMN(
        temporal_dim=T, boundary_ratio=0.5, num_samples=4,
        num_samples_per_bin=3, feat_dim=C_IN, soft_nms_alpha=0.4,
        soft_nms_low_threshold=0.5, soft_nms_high_threshold=0.9,
        post_process_top_k=100, hidden_dim_1d=16, hidden_dim_2d=8,
        hidden_dim_3d=24).eval()
    model = RCLLocalizer(
        backbone=dict(type='BMNBackbone', feat_dim=C_IN, temporal_dim=T,
                      num_samples=4, hidden_dim_1d=16, hidden_dim_3d=24),
        head=dict(type='RCLHead', in_channels=24, hidden_channels=8),
        neck=dict(type='RRMRefiner', in_channels=8, iters=5),
        # The RCL parts are new: allowed missing (else the load raises).
        allow_missing_keys=('head.car.', 'neck.')).eval()
    result = model.load_state_dict(
        convert_mmaction2_bmn(reference.state_dict()), strict=False)
    assert result.unexpected_keys == []
    assert all(k.startswith(('head.car.', 'neck.'))
               for k in result.missing_keys)
    x = torch.randn(2, C_IN, T)
    with torch.no_grad():
        expected = reference(list(x), None, mode='tensor')
        actual = model(x, None, mode='tensor')
    for got, want in zip(actual, expected):
        assert float((got - want).abs().max() / want.abs().max()) <= 1e-5


@pytest.mark.parametrize('config', [
    'configs/rcl_bmn_anet_from_mmaction2.py',
    'configs/rcl_bmn_mmaction2_anet.py'
])
def test_from_mmaction2_config_loads_a_converted_checkpoint(tmp_path, config):
    cfg = Config.fromfile(osp.join(ROOT, config))
    assert cfg.load_from.endswith('bmn_400x100_rcl_mm.pth')
    # The paper-size model: build it, save a converted mmaction2 BMN of
    # the same shape and load it the way the Runner does (strict=False).
    torch.manual_seed(0)
    reference = MMBMN(
        temporal_dim=100, boundary_ratio=0.5, num_samples=32,
        num_samples_per_bin=3, feat_dim=400, soft_nms_alpha=0.4,
        soft_nms_low_threshold=0.5, soft_nms_high_threshold=0.9,
        post_process_top_k=100)
    state = convert_mmaction2_bmn(reference.state_dict())
    del reference
    path = str(tmp_path / 'bmn_400x100_rcl_mm.pth')
    torch.save(dict(state_dict=state, meta={}), path)
    with DefaultScope.overwrite_default_scope('rcl_mm'):
        model = MODELS.build(cfg.model)
    load_checkpoint(model, path, strict=False)
    loaded = model.state_dict()
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key


def test_builds_from_an_mmaction2_scope_config():
    """An mmaction2 config names the localizer with the rcl_mm prefix."""
    from mmaction.registry import MODELS as MMACTION_MODELS
    cfg = dict(
        type='rcl_mm.RCLLocalizer',
        backbone=dict(type='BMNBackbone', feat_dim=C_IN, temporal_dim=T,
                      num_samples=4, hidden_dim_1d=16, hidden_dim_3d=24),
        head=dict(type='RCLHead', in_channels=24, hidden_channels=8),
        neck=dict(type='RRMRefiner', in_channels=8, iters=2))
    with DefaultScope.overwrite_default_scope('mmaction'):
        model = MMACTION_MODELS.build(cfg)
    assert type(model) is RCLLocalizer
    assert model.neck.iters == 2
    conf, _, _ = model(torch.randn(1, C_IN, T), None, mode='tensor')
    assert conf.shape == (1, 2, T, T)


def small_rrm_model(**kwargs):
    model = tiny_model(**kwargs)
    torch.manual_seed(0)
    model.neck = RRMRefiner(in_channels=8, hdim=8, cdim=4,
                               update_block='raft_small',
                               encoder_channels=(6, 4, 3, 5),
                               head_channels=6, stride=2, iters=3)
    return model


@pytest.mark.parametrize('stride', [2, 5])
def test_small_neck_shared_read_of_f(stride, monkeypatch):
    """With the 'raft_small' block the localizer reads F once for the
    head's cell terms and the neck's pooled F (no fine features); the
    same losses and gradients as each module reading F itself."""
    models = twin_models(small_rrm_model, stride)
    feat = torch.randn(2, 8, D, T)
    terms, (fine, coarse) = models[0].read_features(feat)
    assert fine is None
    torch.testing.assert_close(terms, models[0].head.cell_terms(feat))
    torch.testing.assert_close(
        coarse, torch.nn.functional.avg_pool2d(feat, stride,
                                               ceil_mode=True))
    monkeypatch.setattr(models[1], 'read_features', lambda feat, iters:
                        (models[1].head.cell_terms(feat), None))
    assert_same_training_step(models, torch.randn(3, C_IN, T),
                              make_samples(3))


def test_small_neck_in_the_localizer_predicts_and_reads_f_itself():
    model = small_rrm_model()
    randomize(model)
    feat = torch.randn(1, 8, D, T)
    assert model.read_features(feat, iters=0)[1] is None
    model.neck.stride = 1
    assert model.read_features(feat)[1] is None
    x = torch.randn(2, C_IN, T)
    with torch.no_grad():
        conf, _, _ = model(x, None, mode='tensor')
        model.neck.stride = 2
        conf2, _, _ = model(x, None, mode='tensor')
        model.neck.iters = 0
        g0, _, _ = model(x, None, mode='tensor')
    assert conf.shape == conf2.shape == (2, 2, D, T)
    assert not torch.equal(conf2, g0)
    model.neck.iters = 3
    with torch.autocast('cpu', dtype=torch.bfloat16):
        losses = model(x, make_samples(2), mode='loss')
    assert all(torch.isfinite(v) for v in losses.values())
    assert 'loss_rrm_it3_reg' in losses


RCL_CONFIGS = [
    'configs/rcl_bmn_anet.py', 'configs/rcl_bmn_anet_from_mmaction2.py',
    'configs/rcl_bmn_mmaction2_anet.py', 'configs/rcl_bmn_thumos.py',
    'configs/rcl_gtad_anet.py', 'configs/rcl_gtad_thumos.py',
    'configs/demo/rcl_bmn_demo.py', 'configs/demo/rcl_bmn_thumos_demo.py',
    'configs/demo/rcl_gtad_demo.py', 'configs/demo/rcl_gtad_thumos_demo.py'
]


@pytest.mark.parametrize('config', RCL_CONFIGS)
def test_rcl_configs_are_the_supplements(config):
    """Every RCL config (BMN and G-TAD backbones, full and demo): the
    supplement's RRM on the map pooled by 2 and its scoring."""
    cfg = Config.fromfile(osp.join(ROOT, config))
    neck, test_cfg = cfg.model.neck, cfg.model.test_cfg
    assert neck.update_block == 'raft_small'
    assert neck.stride == 2
    # The light block's knobs are not left in (they would be ignored).
    assert 'map_channels' not in neck and 'feat_channels' not in neck
    # RAFT-small's head: 128 hidden channels at the full size, scaled
    # with the rest of a demo model.
    assert neck.head_channels == 2 * neck.hdim
    assert test_cfg.scoring == 'supplement'
    assert test_cfg.anchors == 'grid'


def test_light_rrm_config_differs_only_in_the_neck():
    base = Config.fromfile(osp.join(ROOT, 'configs/rcl_bmn_anet.py'))
    light = Config.fromfile(
        osp.join(ROOT, 'configs/rcl_bmn_anet_light_rrm.py'))
    assert light.model.neck == dict(
        type='RRMRefiner', update_block='light', in_channels=128, hdim=64,
        cdim=32, map_channels=16, feat_channels=16, head_channels=16,
        stride=6, iters=10, gamma=0.8, mixed_precision=False)
    for key in base.model:
        if key != 'neck':
            assert light.model[key] == base.model[key], key
    assert light.model.test_cfg.scoring == 'supplement'


def test_default_config_selects_the_supplements_block():
    with DefaultScope.overwrite_default_scope('rcl_mm'):
        cfg = Config.fromfile(osp.join(ROOT, 'configs/rcl_bmn_anet.py'))
        neck = MODELS.build(cfg.model.neck)
    assert neck.block_type == 'raft_small'
    assert (neck.hdim, neck.cdim, neck.stride) == (64, 32, 2)
    assert not hasattr(neck, 'map_enc')
    block = neck.update_block
    assert block.delta_head[0].kernel_size == (3, 3)
    assert block.delta_head[0].out_channels == 128
    assert block.gru.convz.kernel_size == (3, 3)
    assert block.gru.convz.in_channels == 64 + 82 + 32


def raft_small_model(mode):
    torch.manual_seed(0)
    return RCLLocalizer(
        backbone=dict(type='BMNBackbone', feat_dim=C_IN, temporal_dim=T,
                      duration_dim=D, num_samples=4, hidden_dim_1d=16,
                      hidden_dim_3d=24),
        head=dict(type='RCLHead', in_channels=24, hidden_channels=8,
                  mlp_channels=8, mode=mode),
        neck=dict(type='RRMRefiner', in_channels=8, hdim=8, cdim=4,
                  update_block='raft_small', encoder_channels=(6, 4, 4, 6),
                  head_channels=8, stride=2, iters=4, gamma=0.7))


@pytest.mark.parametrize('name', sorted(EXPECTED_LOSSES))
def test_loss_dict_is_unchanged_to_the_bit(name):
    """Each loss's owner (head: G_0 and CAR, neck: the sequence loss with
    its stage weights, the localizer only collecting) gives the losses,
    their order and their random draws of the code before, bit for bit."""
    block, mode = name.split('_')
    model = tiny_model(mode=mode) if block == 'light' else \
        raft_small_model(mode)
    randomize(model)
    torch.manual_seed(7)
    inputs = torch.randn(3, C_IN, T)
    losses = model(inputs, make_samples(3), mode='loss')
    assert [(k, v.item().hex()) for k, v in losses.items()] == \
        EXPECTED_LOSSES[name]


def test_sampler_and_anchor_set_from_task_utils():
    """train_cfg.sampler and test_cfg.anchors are built from TASK_UTILS:
    the older forms (the sampler's arguments alone, the anchor-set names)
    give the same objects as the typed configs, and a registered class of
    one's own plugs in."""
    from rcl_mm.models.task_modules import (ScaleInvariantAnchors,
                                            ScaleInvariantSampler,
                                            scale_invariant_anchors)
    from rcl_mm.registry import TASK_UTILS
    old = tiny_model(train_cfg=dict(sampler=dict(num_random=7)))
    typed = tiny_model(train_cfg=dict(sampler=dict(
        type='ScaleInvariantSampler', num_random=7)))
    for model in (old, typed):
        assert isinstance(model.sampler, ScaleInvariantSampler)
        assert vars(model.sampler) == dict(num_random=7, num_jitter=8,
                                           min_duration=1.0,
                                           jitter_ratio=0.25)
    gt = torch.tensor([[[0.1, 0.4]]])
    torch.manual_seed(3)
    segments, valid = old.sampler(gt, torch.ones(1, 1, dtype=torch.bool),
                                  T, D)
    assert segments.shape == (1, 7 + 8, 2) and valid.all()
    assert tiny_model().anchor_set is None  # 'grid'
    named = tiny_model(test_cfg=dict(anchors='scale_invariant',
                                     num_scales=4)).inference_anchors('cpu')
    built = tiny_model(test_cfg=dict(anchors=dict(
        type='ScaleInvariantAnchors', num_scales=4))).inference_anchors('cpu')
    assert torch.equal(named, built)
    assert torch.equal(named, scale_invariant_anchors(T, D, 4))
    assert isinstance(tiny_model(test_cfg=dict(
        anchors='scale_invariant')).anchor_set, ScaleInvariantAnchors)
    with pytest.raises(ValueError, match='test_cfg.anchors'):
        tiny_model(test_cfg=dict(anchors='dense'))

    @TASK_UTILS.register_module(force=True)
    class TwoAnchors:
        """Two fixed segments: the whole window and its first half."""

        def __call__(self, temporal_dim, duration_dim, device=None):
            return torch.tensor([[0., temporal_dim], [0., temporal_dim / 2]],
                                device=device)

    try:
        model = tiny_model(test_cfg=dict(anchors=dict(type='TwoAnchors'),
                                         top_k=5)).eval()
        randomize(model)
        x = torch.randn(2, C_IN, T)
        with torch.no_grad():
            segments, scores, valid = model.window_candidates(x)
            _, want = model.score_segments(
                x, torch.tensor([[0., T], [0., T / 2]]).expand(2, -1, -1))
        torch.testing.assert_close(
            segments, torch.tensor([[0., 1.], [0., .5]]).expand(2, -1, -1))
        torch.testing.assert_close(scores, want)
        assert valid.all()
    finally:
        TASK_UTILS.module_dict.pop('TwoAnchors')
