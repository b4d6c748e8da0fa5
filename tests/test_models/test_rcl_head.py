# Copyright (c) rcl_mm contributors. All rights reserved.
"""RCLHead, the CAR head: segments on the grid, the cell terms, the
three modes."""
import pytest
import torch

from rcl_mm.models import RCLHead
from rcl_helpers import C_IN, D, T, grid_cells, randomize, tiny_backbone


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
    segments = grid_cells(T, D)[None].expand(2, -1, -1)
    seg_feat = backbone.segment_features(feats['proposal_feat'], segments)
    logits = head.segment_logits(terms, segments, seg_feat)
    torch.testing.assert_close(logits.view(2, 2, D, T), g0, rtol=1e-5,
                               atol=1e-6)


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
