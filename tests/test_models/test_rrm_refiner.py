# Copyright (c) rcl_mm contributors. All rights reserved.
"""RRMRefiner, RCL's neck: ConvGRU, the light and the supplement's
(RAFT-small) update blocks, the sequence loss, precision."""
import pytest
import torch

from rcl_mm.models import RRMRefiner
from rcl_helpers import C_IN, D, T, make_samples, randomize, tiny_model


def test_neck_zero_iterations_is_identity():
    model = tiny_model(iters=0)
    randomize(model)
    x = torch.randn(2, C_IN, T)
    with torch.no_grad():
        conf, start, end = model(x, None, mode='tensor')
        feats = model.backbone(x)
        head, proposal_map = model.head, feats['proposal_map']
        g0 = head.grid_logits(head.cell_terms(head.features(proposal_map)),
                              proposal_map).sigmoid()
    assert torch.equal(conf, g0)
    assert model.neck(torch.randn(1, 8, D, T), torch.randn(1, 2, D, T),
                         iters=0) == []
    losses = model(x, make_samples(2), mode='loss')
    assert not any(k.startswith('loss_rrm') for k in losses)


def gru_as_written(gru, h, x):
    """One step of the supplement's eq. (1) with the ConvGRU's three
    convolutions on the whole input x."""
    hx = torch.cat((h, x), dim=1)
    z = torch.sigmoid(gru.convz(hx))
    r = torch.sigmoid(gru.convr(hx))
    h_new = torch.tanh(gru.convh(torch.cat((r * h, x), dim=1)))
    return (1 - z) * h + z * h_new


def test_gru_step_with_static_terms_is_eq1():
    """Convolving the fixed input channels once (static_terms) and the rest
    per step gives eq. (1)'s values and gradients, borders included."""
    from rcl_mm.models import ConvGRU
    torch.manual_seed(0)
    gru = ConvGRU(hidden_dim=5, input_dim=7).double()
    h = torch.randn(2, 5, 4, 6, dtype=torch.float64, requires_grad=True)
    x = torch.randn(2, 7, 4, 6, dtype=torch.float64, requires_grad=True)
    want = gru_as_written(gru, gru_as_written(gru, h, x), x)
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
        net = gru_as_written(neck.gru, net, x)
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
    """SmallUpdateBlock.step with the fixed parts computed once
    (static_terms) equals the transcription of RAFT's SmallUpdateBlock,
    values and gradients, borders included."""
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
    static = block.static_terms(feat, inp)
    new_net, delta = block.step(net, heatmap, static)
    assert delta.shape == (2, 2, 4, 7)
    want_net, _, want_delta = raft_small_update(block, net, inp, feat,
                                                heatmap)
    torch.testing.assert_close(new_net, want_net, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(delta, want_delta, rtol=1e-12, atol=1e-12)
    # Two steps, the second on the first's output.
    got_net, got_delta = block.step(new_net, heatmap + delta, static)
    want_net2, _, want_delta2 = raft_small_update(
        block, want_net, inp, feat, heatmap + want_delta)
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
        net, _, delta = raft_small_update(neck.update_block, net, inp,
                                          coarse, coarse_map)
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
