# Copyright (c) rcl_mm contributors. All rights reserved.
"""RCL: CAR head, RRM neck, localizer, mmaction2 BMN initialisation."""
import os.path as osp

import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint
from mmengine.structures import InstanceData

import rcl_mm  # noqa: F401
from mmaction.models import BMN as MMBMN  # noqa: E402,I001
from rcl_mm.models import (BMNBackbone, RCLHead, RCLLocalizer,  # noqa: E402
                           RRMRefiner)
from rcl_mm.models.task_modules import grid_segments  # noqa: E402
from rcl_mm.registry import MODELS  # noqa: E402
from rcl_mm.utils import convert_mmaction2_bmn  # noqa: E402
from devices import requires_cuda  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
T, D, C_IN = 16, 12, 12


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


def tiny_backbone():
    return BMNBackbone(feat_dim=C_IN, temporal_dim=T, duration_dim=D,
                       num_samples=4, hidden_dim_1d=16, hidden_dim_3d=24)


def tiny_model(mode='nearest', iters=3, **kwargs):
    torch.manual_seed(0)
    return RCLLocalizer(
        backbone=dict(type='BMNBackbone', feat_dim=C_IN, temporal_dim=T,
                      duration_dim=D, num_samples=4, hidden_dim_1d=16,
                      hidden_dim_3d=24),
        head=dict(type='RCLHead', in_channels=24, hidden_channels=8,
                  mlp_channels=8, mode=mode),
        neck=dict(type='RRMRefiner', in_channels=8, hdim=8, cdim=4,
                     map_channels=4, feat_channels=4, head_channels=4,
                     stride=2, iters=iters),
        **kwargs)


def make_samples(batch):
    gts = [[[0.1, 0.4]], [[0.05, 0.2], [0.5, 0.95]], [[0.3, 0.35]]]
    samples = []
    for i in range(batch):
        sample = ActionDataSample()
        sample.gt_instances = InstanceData(
            gt_bbox=torch.tensor(gts[i % 3]))
        sample.set_metainfo(dict(video_name=f'v_{i}', duration_second=20.))
        samples.append(sample)
    return samples


def randomize(module):
    """Make the zero-initialised output layers non-zero."""
    gen = torch.Generator().manual_seed(1)
    for name, param in module.named_parameters():
        if param.abs().max() == 0:
            param.data = 0.3 * torch.randn(param.shape, generator=gen)


@pytest.mark.parametrize('mode', ['nearest', 'bilinear', 'exact'])
def test_grid_cells_scored_as_segments_equal_g0(mode):
    backbone = tiny_backbone()
    head = RCLHead(in_channels=24, hidden_channels=8, mlp_channels=8,
                   mode=mode)
    randomize(head)
    feats = backbone(torch.randn(2, C_IN, T))
    terms = head.cell_terms(head.features(feats['proposal_map']))
    g0 = head.grid_logits(terms, feats['proposal_map'])
    assert g0.shape == (2, 2, D, T)
    segments = grid_segments(T, D)[None].expand(2, -1, -1)
    seg_feat = backbone.segment_features(feats['proposal_feat'], segments)
    logits = head.segment_logits(terms, segments, seg_feat)
    torch.testing.assert_close(logits.view(2, 2, D, T), g0, rtol=1e-5,
                               atol=1e-6)
    torch.testing.assert_close(head(feats['proposal_map']), g0.sigmoid(),
                               rtol=1e-5, atol=1e-6)


def concatenated_logits(head, feat, segments, segment_feat=None):
    """The head as its docstring defines it: ``out(F) + car(concat(F at
    the segment, offsets, exact features))``, without cell terms."""
    from rcl_mm.models.task_modules import nearest_anchor
    import torch.nn.functional as F
    num_d, num_t = feat.shape[-2:]
    d_idx, t_idx, coords = nearest_anchor(segments, num_t, num_d)
    if head.mode == 'bilinear':
        start = segments[..., 0].clamp(0, num_t - 1)
        length = (segments[..., 1] - segments[..., 0] - 1).clamp(
            0, num_d - 1)
        grid = torch.stack((2 * start / (num_t - 1) - 1,
                            2 * length / (num_d - 1) - 1), -1)
        seg_feat = F.grid_sample(feat, grid[:, :, None, :],
                                 padding_mode='border',
                                 align_corners=True).squeeze(-1)
    else:
        idx = (d_idx * num_t + t_idx)[:, None, :]
        seg_feat = feat.flatten(2).gather(
            2, idx.expand(-1, feat.size(1), -1))
    parts = [seg_feat, coords.transpose(1, 2)]
    if head.mode == 'exact':
        parts.append(head.exact_proj(segment_feat))
    out = F.conv1d(seg_feat, head.out.weight[..., 0], head.out.bias)
    return out + head.car(torch.cat(parts, 1))


@pytest.mark.parametrize('mode', ['nearest', 'bilinear', 'exact'])
def test_cell_terms_equal_the_concatenated_representation(mode):
    # Off-grid segments: the offsets and the bilinear weights matter.
    torch.manual_seed(0)
    backbone = tiny_backbone()
    head = RCLHead(in_channels=24, hidden_channels=8, mlp_channels=8,
                   mode=mode)
    randomize(head)
    feats = backbone(torch.randn(2, C_IN, T))
    feat = head.features(feats['proposal_map']).detach().requires_grad_()
    start = torch.rand(2, 20, 1) * (T - 2)
    segments = torch.cat((start, start + 1 + torch.rand(2, 20, 1) * 8), -1)
    seg_feat = backbone.segment_features(feats['proposal_feat'],
                                         segments).detach()
    expected = concatenated_logits(head, feat, segments, seg_feat)
    logits = head.segment_logits(head.cell_terms(feat), segments, seg_feat)
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)
    grad = torch.randn_like(expected)
    want = torch.autograd.grad((expected * grad).sum(),
                               [feat] + list(head.parameters()),
                               allow_unused=True)
    got = torch.autograd.grad((logits * grad).sum(),
                              [feat] + list(head.parameters()),
                              allow_unused=True)
    for w, g in zip(want, got):
        if w is None:  # car[1]'s ReLU has no parameters to differ in
            assert g is None or g.abs().max() == 0
        else:
            torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)


def test_coordinates_change_the_score_and_get_gradients():
    # Seeded: gradcheck's finite differences fail on the rare draw that
    # puts an input within their step of a ReLU kink.
    torch.manual_seed(0)
    head = RCLHead(in_channels=6, hidden_channels=5, mlp_channels=4)
    randomize(head)
    feat = torch.randn(1, 5, 4, 6, dtype=torch.float64, requires_grad=True)
    head = head.double()
    # Same nearest cell (d*, t*) = (1, 2), different offsets.
    segments = torch.tensor([[[2.0, 4.0], [2.3, 4.1]]], dtype=torch.float64)
    logits = head.segment_logits(head.cell_terms(feat), segments)
    assert logits.shape == (1, 2, 2)
    assert (logits[..., 0] - logits[..., 1]).abs().min() > 1e-6
    assert torch.autograd.gradcheck(
        lambda f: head.segment_logits(head.cell_terms(f), segments),
        (feat, ))


def test_bilinear_mode_interpolates_between_cells():
    head = RCLHead(in_channels=3, hidden_channels=2, mode='bilinear')
    feat = torch.arange(2 * 3 * 4, dtype=torch.float32).view(1, 2, 3, 4)
    # Start 1.5, length 2.5 (d = 1.5): halfway between 4 cells.
    segments = torch.tensor([[[1.5, 4.0]]])
    head.car[-1].weight.data.zero_()
    head.out.weight.data = torch.tensor([[[[1.0]], [[0.0]]],
                                         [[[0.0]], [[1.0]]]])
    head.out.bias.data.zero_()
    logits = head.segment_logits(head.cell_terms(feat), segments)
    # Channel c at (d, t) is 12 c + 4 d + t: at (1.5, 1.5) 7.5 and 19.5.
    torch.testing.assert_close(logits[0, :, 0], torch.tensor([7.5, 19.5]))


def test_exact_mode_needs_segment_features():
    head = RCLHead(in_channels=4, hidden_channels=3, mode='exact')
    with pytest.raises(ValueError, match='segment_feat'):
        head.segment_logits(torch.randn(1, 2 + 64, 2, 2),
                           torch.ones(1, 1, 2))
    with pytest.raises(ValueError, match='mode'):
        RCLHead(mode='nearst')


def test_neck_zero_iterations_is_identity():
    model = tiny_model(iters=0)
    randomize(model)
    x = torch.randn(2, C_IN, T)
    with torch.no_grad():
        conf, start, end = model(x, None, mode='tensor')
        feats = model.backbone(x)
        g0 = model.head(feats['proposal_map'])
    assert torch.equal(conf, g0)
    assert model.neck(torch.randn(1, 8, D, T), torch.randn(1, 2, D, T),
                         iters=0) == []
    losses = model(x, make_samples(2), mode='loss')
    assert not any(k.startswith('loss_rrm') for k in losses)


def test_gru_step_with_static_terms_equals_forward():
    """Convolving the fixed input channels once (static_terms) and the rest
    per step gives forward's values and gradients, borders included."""
    from rcl_mm.models import ConvGRU
    torch.manual_seed(0)
    gru = ConvGRU(hidden_dim=5, input_dim=7).double()
    h = torch.randn(2, 5, 4, 6, dtype=torch.float64, requires_grad=True)
    x = torch.randn(2, 7, 4, 6, dtype=torch.float64, requires_grad=True)
    want = gru(gru(h, x), x)
    static = gru.static_terms(x[:, 3:])
    got = gru.step(gru.step(h, x[:, :3], static), x[:, :3], static)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    grad = torch.randn_like(want)
    inputs = [h, x] + list(gru.parameters())
    for g, w in zip(torch.autograd.grad((got * grad).sum(), inputs),
                    torch.autograd.grad((want * grad).sum(), inputs)):
        torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('out_size, in_size', [(100, 17), (7, 3), (5, 5),
                                               (9, 4), (3, 7)])
def test_bilinear_matrix_is_interpolate(out_size, in_size):
    from rcl_mm.models.necks.rrm_refiner import bilinear_matrix
    x = torch.randn(2, 3, in_size, in_size + 1, dtype=torch.float64)
    rows = bilinear_matrix(out_size, in_size).double()
    cols = bilinear_matrix(out_size + 2, in_size + 1).double()
    want = torch.nn.functional.interpolate(
        x, size=(out_size, out_size + 2), mode='bilinear',
        align_corners=False)
    torch.testing.assert_close(rows @ x @ cols.t(), want, rtol=1e-6,
                               atol=1e-6)
    torch.testing.assert_close(rows.sum(1), torch.ones(out_size,
                                                       dtype=torch.float64))


def refine_by_concatenation(neck, feat, logits, iters):
    """RRMRefiner as first written: the delta head on the concatenation
    of the upsampled hidden state, the map and the fine features."""
    pool = neck._pool
    net, inp = torch.split(neck.cnet(pool(feat)),
                           [neck.hdim, neck.cdim], dim=1)
    net, inp = torch.tanh(net), torch.relu(inp)
    feat_coarse = neck.feat_enc(pool(feat))
    feat_fine = neck.fine_feat(feat)
    heatmap, maps = logits, []
    for _ in range(iters):
        x = torch.cat((neck.map_enc(pool(heatmap)), feat_coarse, inp), 1)
        net = neck.gru(net, x)
        up = torch.nn.functional.interpolate(
            net, size=logits.shape[-2:], mode='bilinear',
            align_corners=False)
        heatmap = heatmap + neck.delta_head(
            torch.cat((up, heatmap, feat_fine), 1))
        maps.append(heatmap)
    return maps


@pytest.mark.parametrize('stride, size', [(2, (6, 9)), (3, (7, 7)),
                                          (1, (4, 5))])
def test_neck_head_split_equals_the_concatenation(stride, size):
    """The head's 1x1 conv applied before upsampling (and the fine part
    once) gives the concatenated head's maps: bilinear upsampling and a
    1x1 conv commute, borders and odd sizes included."""
    torch.manual_seed(0)
    neck = RRMRefiner(in_channels=6, hdim=8, cdim=4, map_channels=3,
                         feat_channels=5, head_channels=7, stride=stride,
                         iters=4)
    randomize(neck)
    feat = torch.randn(2, 6, *size)
    logits = torch.randn(2, 2, *size)
    maps = neck(feat, logits)
    expected = refine_by_concatenation(neck, feat, logits, 4)
    assert len(maps) == 4
    # float32 (the neck's precision), summed in another order.
    for got, want in zip(maps, expected):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
        assert (got - want).abs().max() < 1e-3 * want.abs().max()


def test_neck_steps_shapes_and_gradients():
    neck = RRMRefiner(in_channels=5, hdim=6, cdim=3, map_channels=2,
                         feat_channels=2, head_channels=3, stride=3,
                         iters=4)
    feat = torch.randn(2, 5, 7, 8)
    logits = torch.randn(2, 2, 7, 8)
    maps = neck(feat, logits)
    # Zero-initialised delta head: the map starts unchanged.
    assert len(maps) == 4 and all(torch.equal(m, logits) for m in maps)
    randomize(neck)
    logits.requires_grad_(True)
    maps = neck(feat, logits)
    assert all(m.shape == (2, 2, 7, 8) for m in maps)
    assert not torch.equal(maps[0], maps[1])
    maps[-1].sum().backward()
    # Each iteration detaches the map: no gradient reaches G_0.
    assert logits.grad is None
    for name, param in neck.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


class MeanCriterion:
    """A stand-in for ProposalMapLoss.map_loss_parts: the map's mean."""

    def map_loss_parts(self, conf, targets):
        return dict(reg=conf.mean(), cls=2 * conf.mean())


def test_sequence_loss_weights():
    neck = RRMRefiner(in_channels=4, iters=3, gamma=0.8)
    assert neck.stage_weights(3) == [0.8**2, 0.8, 1.0]
    assert neck.stage_weights(1) == [1.0]
    maps = [torch.zeros(1, 2, 2, 2)] * 3
    losses = neck.loss_by_feat(maps, None, MeanCriterion())
    assert list(losses) == [
        f'loss_rrm_it{i}_{p}' for i in (1, 2, 3) for p in ('reg', 'cls')]
    for i, weight in zip((1, 2, 3), (0.64, 0.8, 1.0)):
        torch.testing.assert_close(losses[f'loss_rrm_it{i}_reg'],
                                   torch.tensor(0.5 * weight))
        torch.testing.assert_close(losses[f'loss_rrm_it{i}_cls'],
                                   torch.tensor(1.0 * weight))


def test_mixed_precision_flag():
    neck = RRMRefiner(in_channels=5, hdim=6, cdim=3, stride=2, iters=2,
                         mixed_precision=True)
    randomize(neck)
    maps = neck(torch.randn(1, 5, 6, 6), torch.randn(1, 2, 6, 6))
    assert all(m.dtype == torch.float32 for m in maps)
    reference = RRMRefiner(in_channels=5, hdim=6, cdim=3, stride=2, iters=2)
    reference.load_state_dict(neck.state_dict())
    torch.manual_seed(2)
    feat, logits = torch.randn(1, 5, 6, 6), torch.randn(1, 2, 6, 6)
    fast, exact = neck(feat, logits), reference(feat, logits)
    for a, b in zip(fast, exact):
        # bf16 keeps about 3 significant digits.
        torch.testing.assert_close(a, b, atol=5e-2, rtol=5e-2)


def test_float32_neck_under_outer_bf16_autocast():
    """Whole-model bf16 autocast hands the float32 neck bf16 input."""
    model = tiny_model()
    randomize(model)
    inputs, samples = torch.randn(2, C_IN, T), make_samples(2)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        losses = model(inputs, samples, mode='loss')
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert model.neck.cnet.weight.grad.abs().sum() > 0


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
    segments = grid_segments(T, D)[None].expand(2, -1, -1)
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


# ------------------------------------------------- the supplement's RRM --
def small_neck(**kwargs):
    """A tiny 'raft_small' neck (F of 6 channels)."""
    torch.manual_seed(0)
    cfg = dict(in_channels=6, hdim=8, cdim=4, update_block='raft_small',
               encoder_channels=(5, 4, 3, 6), head_channels=7, stride=2,
               iters=3)
    cfg.update(kwargs)
    return RRMRefiner(**cfg)


def raft_small_update(block, net, inp, corr, flow):
    """A direct transcription of RAFT's SmallUpdateBlock.forward (its
    SmallMotionEncoder, ConvGRU with the context first in its input, and
    FlowHead) with the block's layers, the map as the flow and F as the
    correlation. Ours puts the context last in x_t: the GRU's weight
    columns are rotated to RAFT's order."""
    enc = block.encoder
    relu = torch.nn.functional.relu
    cor = relu(enc.convf(corr))
    flo = relu(enc.convm1(flow))
    flo = relu(enc.convm2(flo))
    out = relu(enc.conv(torch.cat([cor, flo], dim=1)))
    motion_features = torch.cat([out, flow], dim=1)
    inp = torch.cat([inp, motion_features], dim=1)
    hidden, cdim = net.size(1), inp.size(1) - motion_features.size(1)

    def raft_order(conv):
        # Ours: [h, motion, context]; RAFT's: [h, context, motion].
        w = conv.weight
        w = torch.cat((w[:, :hidden], w[:, w.size(1) - cdim:],
                       w[:, hidden:w.size(1) - cdim]), 1)
        return lambda x: torch.nn.functional.conv2d(x, w, conv.bias,
                                                    padding=1)

    convz, convr, convq = (raft_order(c) for c in
                           (block.gru.convz, block.gru.convr,
                            block.gru.convh))
    hx = torch.cat([net, inp], dim=1)
    z = torch.sigmoid(convz(hx))
    r = torch.sigmoid(convr(hx))
    q = torch.tanh(convq(torch.cat([r * net, inp], dim=1)))
    net = (1 - z) * net + z * q
    head = block.delta_head
    delta = head[2](relu(head[0](net)))
    return net, None, delta


def test_small_update_block_is_rafts_and_its_split_is_exact():
    """SmallUpdateBlock.forward equals the transcription of RAFT's
    SmallUpdateBlock; step() with the fixed parts computed once
    (static_terms) equals forward, values and gradients, borders
    included."""
    from rcl_mm.models import SmallUpdateBlock
    torch.manual_seed(0)
    block = SmallUpdateBlock(6, hdim=5, cdim=3,
                             encoder_channels=(7, 4, 3, 6),
                             head_channels=9)
    randomize(block)
    block.double()
    net = torch.randn(2, 5, 4, 7, dtype=torch.float64, requires_grad=True)
    inp = torch.randn(2, 3, 4, 7, dtype=torch.float64, requires_grad=True)
    feat = torch.randn(2, 6, 4, 7, dtype=torch.float64, requires_grad=True)
    heatmap = torch.randn(2, 2, 4, 7, dtype=torch.float64)
    new_net, mask, delta = block(net, inp, feat, heatmap)
    assert mask is None and delta.shape == (2, 2, 4, 7)
    want_net, _, want_delta = raft_small_update(block, net, inp, feat,
                                                heatmap)
    torch.testing.assert_close(new_net, want_net, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(delta, want_delta, rtol=1e-12, atol=1e-12)
    # Two steps, the second on the first's output.
    static = block.static_terms(feat, inp)
    got_net, got_delta = block.step(net, heatmap, static)
    got_net, got_delta = block.step(got_net, heatmap + got_delta, static)
    want_net2, _, want_delta2 = block(new_net, inp, feat, heatmap + delta)
    torch.testing.assert_close(got_net, want_net2, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got_delta, want_delta2, rtol=1e-12,
                               atol=1e-12)
    grad = torch.randn_like(want_delta2)
    inputs = [net, inp, feat] + list(block.parameters())
    for g, w in zip(
            torch.autograd.grad((got_delta * grad).sum(), inputs),
            torch.autograd.grad((want_delta2 * grad).sum(), inputs)):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize('stride, size', [(2, (7, 9)), (3, (6, 6)),
                                          (1, (4, 5))])
def test_small_neck_is_fig4_on_the_pooled_map(stride, size):
    """The 'raft_small' neck equals Fig. 4's loop written out: the
    context network and the update block on F and G pooled by the
    stride (avg_pool2d, ceil mode), the pooled map accumulating the
    deltas, and G_t = G_{t-1} + the delta upsampled by F.interpolate
    (bilinear)."""
    neck = small_neck(stride=stride, iters=4)
    randomize(neck)
    feat, logits = torch.randn(2, 6, *size), torch.randn(2, 2, *size)
    maps = neck(feat, logits)
    assert len(maps) == 4

    def pool(x):
        return torch.nn.functional.avg_pool2d(x, stride, ceil_mode=True)

    coarse = pool(feat)
    net, inp = torch.split(neck.cnet(coarse), [8, 4], dim=1)
    net, inp = torch.tanh(net), torch.relu(inp)
    heatmap, coarse_map = logits, pool(logits)
    for got in maps:
        net, _, delta = neck.update_block(net, inp, coarse, coarse_map)
        coarse_map = coarse_map + delta
        heatmap = heatmap + torch.nn.functional.interpolate(
            delta, size=size, mode='bilinear', align_corners=False)
        torch.testing.assert_close(got, heatmap, rtol=1e-5, atol=1e-5)
    assert not torch.equal(maps[0], logits)


def test_small_neck_starts_at_g0_and_trains_every_layer():
    neck = small_neck()
    feat, logits = torch.randn(2, 6, 7, 8), torch.randn(2, 2, 7, 8)
    # Zero-initialised head: the map starts unchanged.
    assert all(torch.equal(m, logits) for m in neck(feat, logits))
    assert neck(feat, logits, iters=0) == []
    randomize(neck)
    logits.requires_grad_(True)
    maps = neck(feat, logits)
    neck.loss_by_feat(maps, None, MeanCriterion())[
        'loss_rrm_it3_reg'].backward()
    # Each iteration detaches the map: no gradient reaches G_0.
    assert logits.grad is None
    for name, param in neck.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    # The light block's layers are not built for this one.
    assert not hasattr(neck, 'fine_feat')
    assert neck.fine_weights() is None


def test_neck_options_are_checked():
    with pytest.raises(ValueError, match="'raft'"):
        RRMRefiner(update_block='raft')
    with pytest.raises(ValueError, match='stride'):
        RRMRefiner(update_block='raft_small', stride=2.5)
    with pytest.raises(ValueError, match='encoder_channels'):
        RRMRefiner(update_block='raft_small', encoder_channels=(8, 8))
    assert RRMRefiner().block_type == 'light'  # the class's default; the configs name theirs
    assert RRMRefiner().delta_head[0].out_channels == 16
    assert RRMRefiner(update_block='raft_small').update_block.delta_head[
        0].out_channels == 128


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
