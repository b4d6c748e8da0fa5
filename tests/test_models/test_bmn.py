# Copyright (c) rcl_mm contributors. All rights reserved.
"""Our BMN against mmaction2's: weights, outputs, losses, predictions."""
import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

import rcl_mm  # noqa: F401
from mmaction.models import BMN as MMBMN  # noqa: E402,I001
from mmaction.models import BMNLoss as MMBMNLoss  # noqa: E402
from rcl_mm.models import BMN, ProposalMapLoss  # noqa: E402
from rcl_mm.utils import convert_mmaction2_bmn  # noqa: E402
from devices import DEVICES, requires_cuda  # noqa: E402

# Float32 parity on CUDA needs cuDNN and cuBLAS without TF32.
pytestmark = pytest.mark.usefixtures('exact_float32')

TINY = dict(
    temporal_dim=16,
    boundary_ratio=0.5,
    num_samples=8,
    num_samples_per_bin=3,
    feat_dim=12,
    soft_nms_alpha=0.4,
    soft_nms_low_threshold=0.5,
    soft_nms_high_threshold=0.9,
    post_process_top_k=100,
    hidden_dim_1d=16,
    hidden_dim_2d=8,
    hidden_dim_3d=24)


def make_pair(device='cpu', **overrides):
    """An mmaction2 BMN and ours with the same weights, on ``device``."""
    torch.manual_seed(0)
    kwargs = dict(TINY, **overrides)
    reference = MMBMN(**kwargs)
    ours = BMN(**kwargs)
    ours.load_state_dict(convert_mmaction2_bmn(reference.state_dict()))
    return reference.to(device).eval(), ours.to(device).eval()


def make_samples(batch, seed=0, with_meta=True, device='cpu'):
    gen = torch.Generator().manual_seed(seed)
    samples = []
    for i in range(batch):
        num = 1 + i % 3
        start = torch.rand(num, generator=gen) * 0.7
        end = (start + 0.05 + torch.rand(num, generator=gen) * 0.3).clamp(
            max=1.0)
        sample = ActionDataSample()
        sample.gt_instances = InstanceData(
            gt_bbox=torch.stack([start, end], 1).to(device))
        if with_meta:
            sample.set_metainfo(
                dict(video_name=f'v_video{i}', duration_second=100.0 + i,
                     duration_frame=3000 + 7 * i,
                     feature_frame=2992 + 7 * i))
        samples.append(sample)
    return samples


def relative_error(a, b):
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('batch', [1, 3])
def test_tensor_mode_equals_mmaction2(batch, device):
    reference, ours = make_pair(device)
    inputs = list(
        torch.randn(batch, TINY['feat_dim'], TINY['temporal_dim'],
                    device=device))
    with torch.no_grad():
        expected = reference(inputs, None, mode='tensor')
        actual = ours(inputs, None, mode='tensor')
    assert actual[0].shape == (batch, 2, 16, 16)
    assert actual[1].shape == actual[2].shape == (batch, 16)
    for got, want in zip(actual, expected):
        assert relative_error(got, want) <= 1e-5


@pytest.mark.parametrize('device', DEVICES)
def test_paper_size_bm_layer_equals_mmaction2(device):
    """T = 100, N = 32 as in the paper: the fused BM layer is exact."""
    torch.manual_seed(0)
    reference = MMBMN(
        **dict(TINY, temporal_dim=100, num_samples=32, feat_dim=8,
               hidden_dim_1d=8, hidden_dim_3d=8, hidden_dim_2d=4))
    ours = BMN(
        **dict(TINY, temporal_dim=100, num_samples=32, feat_dim=8,
               hidden_dim_1d=8, hidden_dim_3d=8, hidden_dim_2d=4))
    ours.load_state_dict(convert_mmaction2_bmn(reference.state_dict()))
    reference, ours = reference.to(device), ours.to(device)
    feat = torch.randn(2, 8, 100, device=device)
    with torch.no_grad():
        dense = reference.x_3d_p(
            reference._boundary_matching_layer(feat)).squeeze(2)
        fused = ours.backbone.boundary_matching(feat)
    assert relative_error(fused, dense) <= 1e-5


def test_state_dict_has_no_sampling_mask():
    _, ours = make_pair()
    keys = set(ours.state_dict())
    assert not any('mask' in k or 'sample' in k for k in keys)
    assert 'backbone.bm_conv.weight' in keys and 'head.out.bias' in keys


def test_converter_rejects_other_models():
    with pytest.raises(KeyError, match='Not an mmaction2 BMN'):
        convert_mmaction2_bmn({'backbone.conv1.weight': torch.zeros(1)})


@pytest.mark.parametrize('device', DEVICES)
def test_loss_equals_mmaction2_and_is_logged_by_part(device):
    reference, ours = make_pair(device)
    reference.train()
    ours.train()
    samples = make_samples(3, device=device)
    inputs = list(
        torch.randn(3, TINY['feat_dim'], TINY['temporal_dim'], device=device))
    torch.manual_seed(123)
    expected = reference(inputs, samples, mode='loss')['loss']
    torch.manual_seed(123)
    losses = ours(inputs, samples, mode='loss')
    assert set(losses) == {
        'loss_tem_start', 'loss_tem_end', 'loss_pem_reg', 'loss_pem_cls'
    }
    total = sum(losses.values())
    assert abs(float(total) - float(expected)) <= 1e-5 * abs(float(expected))


def test_loss_parts_equal_mmaction2_loss_parts():
    gen = torch.Generator().manual_seed(3)
    pred = torch.rand(2, 2, 10, 10, generator=gen)
    start, end = torch.rand(2, 2, 10, generator=gen)
    gt_iou = torch.rand(2, 10, 10, generator=gen)
    gt_start, gt_end = torch.rand(2, 2, 10, generator=gen)
    mask = torch.ones(10, 10).triu().flip(1)  # t + d <= 9
    torch.manual_seed(5)
    _, tem, reg, cls = MMBMNLoss()(pred, start, end, gt_iou, gt_start,
                                   gt_end, mask)
    torch.manual_seed(5)
    ours = ProposalMapLoss()(pred, start, end, gt_iou, gt_start, gt_end, mask)
    assert torch.allclose(ours['loss_pem_reg'], 10 * reg, rtol=1e-6)
    assert torch.allclose(ours['loss_pem_cls'], cls, rtol=1e-6)
    assert torch.allclose(ours['loss_tem_start'] + ours['loss_tem_end'],
                          tem, rtol=1e-6)


def test_map_targets_score_several_maps_as_proposal_loss_does():
    """Targets computed once (RCL's G_0 .. G_n): each map's losses are
    proposal_loss's bit for bit, its random draws included, and equal
    mmaction2's."""
    gen = torch.Generator().manual_seed(4)
    maps = torch.rand(3, 2, 2, 10, 10, generator=gen)
    gt_iou = torch.rand(2, 10, 10, generator=gen)
    mask = torch.ones(10, 10).triu().flip(1)
    loss = ProposalMapLoss()
    targets = loss.map_targets(gt_iou, mask)
    for seed, confidence_map in enumerate(maps):
        torch.manual_seed(seed)
        got = {f'loss_pem_{part}': value for part, value in
               loss.map_loss_parts(confidence_map, targets).items()}
        torch.manual_seed(seed)
        want = loss.proposal_loss(confidence_map, gt_iou, mask)
        assert got.keys() == want.keys()
        assert all(torch.equal(got[k], want[k]) for k in got)
        torch.manual_seed(seed)
        reg = MMBMNLoss.pem_reg_loss(confidence_map[:, 0], gt_iou * mask,
                                     mask)
        torch.testing.assert_close(got['loss_pem_reg'], 10 * reg)
        cls = MMBMNLoss.pem_cls_loss(confidence_map[:, 1], gt_iou * mask,
                                     mask)
        torch.testing.assert_close(got['loss_pem_cls'], cls)


@pytest.mark.parametrize('device', DEVICES)
def test_predict_equals_mmaction2_for_every_video(device):
    """Ours on ``device`` against mmaction2's on the CPU (its
    post-processing is numpy)."""
    reference, ours = make_pair(device)
    reference.cpu()
    samples = make_samples(3)
    inputs = list(torch.randn(3, TINY['feat_dim'], TINY['temporal_dim']))
    with torch.no_grad():
        results = ours([x.to(device) for x in inputs], samples,
                       mode='predict')
        for i in range(3):
            expected = reference([inputs[i]], [samples[i]],
                                 mode='predict')[0]['proposal_list']
            actual = results[i].proposal_list
            assert results[i].video_name == f'v_video{i}'
            assert len(actual) == len(expected) > 0
            for a, e in zip(actual, expected):
                assert a['score'] == pytest.approx(e['score'], rel=1e-5)
                assert a['segment'] == pytest.approx(e['segment'],
                                                     rel=1e-5, abs=1e-6)
            segments = results[i].pred_instances.segments
            assert segments.shape == (len(actual), 2)
            assert float(segments.max()) <= 100.0 + i


def test_wrong_input_shape_names_the_video():
    _, ours = make_pair()
    samples = make_samples(2)
    inputs = [torch.randn(12, 16), torch.randn(10, 16)]
    with pytest.raises(ValueError, match=r'v_video1 \(10, 16\)'):
        ours(inputs, samples, mode='loss')


def test_gradients_reach_every_parameter():
    _, ours = make_pair()
    ours.train()
    losses = ours(list(torch.randn(2, 12, 16)), make_samples(2), mode='loss')
    sum(losses.values()).backward()
    for name, param in ours.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), \
            name
    assert float(ours.backbone.bm_conv.weight.grad.abs().sum()) > 0


def test_mmaction2_bmn_gets_its_own_loss_in_our_scope():
    """Our loss is registered as ProposalMapLoss, so mmaction2's BMN,
    built (and trained) while rcl_mm is the default scope, finds
    mmaction2's BMNLoss; our BMN reads 'BMNLoss' as ours."""
    from rcl_mm.registry import MODELS
    with DefaultScope.overwrite_default_scope('rcl_mm'):
        theirs = MODELS.build(dict(type='mmaction.BMN', **TINY))
        ours = MODELS.build(dict(type='BMN', **TINY))
        assert isinstance(theirs, MMBMN)
        assert isinstance(theirs.loss_cls, MMBMNLoss)
        assert type(ours.loss_module) is ProposalMapLoss
        inputs = list(torch.randn(2, TINY['feat_dim'], TINY['temporal_dim']))
        losses = theirs(inputs, make_samples(2), mode='loss')
    assert set(losses) == {'loss'} and torch.isfinite(losses['loss'])


@requires_cuda
def test_training_step_on_cuda_makes_no_host_synchronisation():
    """Forward, loss and backward on CUDA never stop the host to wait for
    the GPU (with the default impls), so the host queues work ahead, and
    the step can be captured as a CUDA graph."""
    _, ours = make_pair('cuda')
    ours.train()
    samples = make_samples(3, device='cuda')
    inputs = list(torch.randn(3, TINY['feat_dim'], TINY['temporal_dim'],
                              device='cuda'))
    # Warm-up: the grid's matrix, cuDNN's plans.
    sum(ours(inputs, samples, mode='loss').values()).backward()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode('error')
    try:
        losses = ours(inputs, samples, mode='loss')
        sum(losses.values()).backward()
    finally:
        torch.cuda.set_sync_debug_mode('default')
