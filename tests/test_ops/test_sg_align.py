# Copyright (c) rcl_mm contributors. All rights reserved.
"""kNN graph on hand cases; SGAlign against a slow reference of G-TAD's
Align1D kernel written from its definition (loops over anchors, bins and
points)."""
import math

import pytest
import torch

from rcl_mm.ops import (SGAlign, align1d_sampling, car_align_with_sampling,
                        gather_neighbours, knn_context, knn_graph,
                        sg_align_sampling, sg_align_with_sampling)


def features(*rows):
    """B x C x T from rows given as T x C lists per video."""
    return torch.tensor(rows, dtype=torch.float64).transpose(1, 2)


def test_knn_on_a_line_includes_self_first():
    # Snippets at 0, 1, 10, 11, 3 on a line.
    x = features([[0.], [1.], [10.], [11.], [3.]])
    expected = [[0, 1, 4], [1, 0, 4], [2, 3, 4], [3, 2, 4], [4, 1, 0]]
    assert knn_graph(x, k=3).tolist() == [expected]


def test_knn_in_the_plane_and_per_video():
    # Video 0: a unit square plus a far point; video 1: the same points
    # in another order, so the graph must follow each video's features.
    square = [[0., 0.], [1., 0.], [0., 1.], [1., 1.], [5., 5.]]
    order = [4, 3, 2, 1, 0]
    x = features(square, [square[i] for i in order])
    got = knn_graph(x, k=2)
    # Ties (two corners at distance 1) go to the lower index.
    assert got[0].tolist() == [[0, 1], [1, 0], [2, 0], [3, 1], [4, 3]]
    assert got[1].tolist() == [[0, 1], [1, 2], [2, 1], [3, 1], [4, 2]]


def test_knn_self_wins_over_duplicates():
    # Snippets 0..2 are identical: self is neighbour 0, then the lower
    # indices; a snippet never lists itself twice.
    x = features([[5.], [5.], [5.], [0.]])
    assert knn_graph(x, k=3).tolist() == [[[0, 1, 2], [1, 0, 2], [2, 0, 1],
                                           [3, 0, 1]]]


def test_knn_chunks_give_the_same_graph():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 16, 256, generator=gen, dtype=torch.float64)
    whole = knn_graph(x, k=3, chunk_size=256)
    assert torch.equal(knn_graph(x, k=3, chunk_size=37), whole)
    # Brute force: sort each row's distances computed one pair at a time.
    dist = torch.cdist(x.transpose(1, 2), x.transpose(1, 2))
    dist.diagonal(dim1=1, dim2=2).fill_(-1)
    assert torch.equal(dist.sort(dim=-1, stable=True)[1][..., :3], whole)


def test_knn_rejects_bad_k():
    with pytest.raises(ValueError, match='k must be'):
        knn_graph(torch.zeros(1, 2, 3), k=4)


def test_gather_and_context_values():
    x = features([[0., 10.], [1., 20.], [10., 30.], [11., 40.], [3., 50.]])
    index = knn_graph(x[:, :1], k=3)  # the line case above
    got = gather_neighbours(x, index)
    assert got.shape == (1, 2, 5, 3)
    assert got[0, :, 4].tolist() == [[3., 1., 0.], [50., 20., 10.]]
    context = knn_context(x[:, :1], k=3)
    expected = torch.tensor([4 / 3, 4 / 3, 8., 8., 4 / 3],
                            dtype=torch.float64)
    assert torch.allclose(context[0, 0], expected)


def test_gather_is_differentiable():
    x = torch.randn(2, 3, 6, dtype=torch.float64, requires_grad=True)
    index = knn_graph(x, k=3)
    assert torch.autograd.gradcheck(lambda v: gather_neighbours(v, index),
                                    (x, ))


def align1d_point(feat, pos):
    """One point of G-TAD's Align1D kernel (``linear_interpolate``), from
    its definition: nothing outside [-1, T]; [-1, 0] reads snippet 0 and
    [T - 1, T] snippet T - 1 with full weight; linear in between."""
    temporal_dim = feat.size(1)
    if pos < -1.0 or pos > temporal_dim:
        return torch.zeros(feat.size(0), dtype=feat.dtype)
    pos = max(pos, 0.0)
    lower = int(pos)
    if lower >= temporal_dim - 1:
        return feat[:, temporal_dim - 1].clone()
    frac = pos - lower
    return (1.0 - frac) * feat[:, lower] + frac * feat[:, lower + 1]


def reference_align1d(feat, region_start, region_end, bins, points=None):
    """G-TAD's Align1D of one region: C x N, loops over bins and points."""
    height = max(region_end - region_start, 1.0)
    bin_size = height / bins
    count = points if points else math.ceil(height / bins)
    out = []
    for n in range(bins):
        total = torch.zeros(feat.size(0), dtype=feat.dtype)
        for i in range(count):
            total += align1d_point(
                feat, region_start + n * bin_size + (i + 0.5) * bin_size /
                count)
        out.append(total / count)
    return torch.stack(out, dim=1)


def reference_sg_align(x, context, segments, inner_bins, context_bins,
                       points=None, inner_ratio=0.5, context_ratio=0.5):
    """B x C x (N_i + N_c) x K: each anchor widened by ``ratio x`` its
    length (G-TAD's ``_get_anchors``), then :func:`reference_align1d`."""
    batch, channels, _ = x.shape
    out = torch.zeros(batch, channels, inner_bins + context_bins,
                      segments.size(-2), dtype=x.dtype)
    for b in range(batch):
        segs = segments[b] if segments.dim() == 3 else segments
        for k, (start, end) in enumerate(segs.tolist()):
            end = max(end, start)
            length = end - start + 1
            parts = [
                reference_align1d(feat, start - length * ratio,
                                  end + length * ratio, bins, points)
                for feat, bins, ratio in ((x[b], inner_bins, inner_ratio),
                                          (context[b], context_bins,
                                           context_ratio))
            ]
            out[b, :, :, k] = torch.cat(parts, dim=1)
    return out


def test_align1d_by_hand():
    x = torch.arange(8, dtype=torch.float64).view(1, 1, 8) + 1.0
    # Region [1, 4]: h = 3, 2 bins of 1.5, ceil(1.5) = 2 points each at
    # 1.375, 2.125 | 2.875, 3.625 -> x = p + 1 averages 2.75 and 4.25.
    index, weight = align1d_sampling(
        torch.tensor([[1., 4.]], dtype=torch.float64), 8, 2)
    got = car_align_with_sampling(x, index, weight)
    assert got.flatten().tolist() == [2.75, 4.25]
    # The right edge: region [6, 8] at T = 8, 1 bin, 2 points at 6.5
    # (half 6, half 7) and 7.5 (in (T - 1, T]: all on snippet 7).
    index, weight = align1d_sampling(
        torch.tensor([[6., 8.]], dtype=torch.float64), 8, 1)
    assert car_align_with_sampling(x, index, weight).item() == \
        (0.5 * 7 + 0.5 * 8 + 8) / 2
    # The left edge: region [-1.5, 0.5], 2 bins of 1 point at -1.0 (in
    # [-1, 0]: all on snippet 0) and 0.0; [-3, -1.2] reads nothing.
    index, weight = align1d_sampling(
        torch.tensor([[-1.5, 0.5], [-3., -1.2]], dtype=torch.float64), 8,
        2)
    got = car_align_with_sampling(x, index, weight)
    assert got[0, 0].tolist() == [[1., 0.], [1., 0.]]
    # Past-end anchors as G-TAD passes them, [0, 0]: h = max(0, 1) = 1,
    # one point per bin at 0.25 and 0.75 (the region [0, 1]).
    index, weight = align1d_sampling(torch.zeros(1, 2), 8, 2)
    assert car_align_with_sampling(x, index, weight).flatten().tolist() == \
        [1.25, 1.75]


def test_adaptive_counts_are_g_tads():
    # ANet grid, T = 100: the longest anchor (0, 99) has the region
    # [-50, 149], h = 199: ceil(199 / 32) = 7 points per inner bin and
    # ceil(199 / 4) = 50 per context bin; a one-snippet anchor has h = 1,
    # one point per bin. Merged, a bin holds at most ceil(w) + 2 taps.
    seg = torch.tensor([[0., 99.], [5., 5.]], dtype=torch.float64)
    for bins, points in ((32, 7), (4, 50)):
        index, weight = sg_align_sampling(seg, 100, bins)
        width = 199 / bins
        assert index.shape[-1] <= math.ceil(width) + 2
        # The weights of a bin sum to the share of its points in [-1, T].
        expected = reference_align1d(
            torch.ones(1, 100, dtype=torch.float64), -50., 149., bins)
        assert torch.allclose(weight[0].sum(-1), expected[0])
        one = reference_align1d(
            torch.arange(100.).double().view(1, 100), -50., 149., bins,
            points)
        x = torch.arange(100.).double().view(1, 1, 100)
        got = car_align_with_sampling(x, index[:1], weight[:1])
        assert torch.allclose(got[0, 0, :, 0], one[0], atol=1e-12)


SEGMENTS = torch.tensor(
    [[0., 0.], [0., 6.], [1.3, 2.9], [4.5, 8.2], [-3., -1.], [2., 1.],
     [5.7, 5.7], [-0.4, 1.1], [6., 6.], [5., 6.], [0., 30.], [3., 3.5]],
    dtype=torch.float64)


@pytest.mark.parametrize('per_video', [False, True])
@pytest.mark.parametrize('bins', [(32, 4), (16, 16), (4, 2)],
                         ids=['anet', 'thumos', 'small'])
def test_sg_align_equals_align1d_reference(per_video, bins):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 7, generator=gen, dtype=torch.float64)
    context = torch.randn(2, 3, 7, generator=gen, dtype=torch.float64)
    segments = SEGMENTS
    if per_video:
        segments = torch.stack([SEGMENTS, SEGMENTS.flip(0) * 0.9])
    align = SGAlign(*bins)
    got = align(x, context, segments)
    expected = reference_sg_align(x, context, segments, *bins)
    num = sum(bins)
    assert got.shape == (2, 3, num, len(SEGMENTS))
    assert torch.allclose(got, expected, rtol=0, atol=1e-12)
    # Fused with G-TAD's 1x1 conv weight, O x (C * num) x 1 x 1.
    weight = torch.randn(5, 3 * num, 1, 1, generator=gen,
                         dtype=torch.float64)
    inner, outer = align.plans(segments, 7)
    fused = sg_align_with_sampling(x, context, inner, outer, weight)
    projected = torch.einsum('om,bmk->bok', weight.flatten(1),
                             expected.flatten(1, 2))
    assert torch.allclose(fused, projected, rtol=0, atol=1e-12)


def test_sg_align_fixed_points_and_other_widening():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(1, 2, 9, generator=gen, dtype=torch.float64)
    context = torch.randn(1, 2, 9, generator=gen, dtype=torch.float64)
    align = SGAlign(3, 2, 2, inner_widen_ratio=0.0, context_widen_ratio=1.)
    expected = reference_sg_align(x, context, SEGMENTS, 3, 2, 2, 0.0, 1.0)
    assert torch.allclose(align(x, context, SEGMENTS), expected, atol=1e-12)
    assert 'inner_widen_ratio=0.0' in repr(align)
    # Fixed S differs from the adaptive count on long anchors.
    adaptive = reference_sg_align(x, context, SEGMENTS, 3, 2, None, 0.0, 1.)
    assert not torch.allclose(adaptive, expected)


def test_sg_align_gradcheck():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, 6, generator=gen, dtype=torch.float64,
                    requires_grad=True)
    context = torch.randn(2, 3, 6, generator=gen, dtype=torch.float64,
                          requires_grad=True)
    weight = torch.randn(4, 3, 5, generator=gen, dtype=torch.float64,
                         requires_grad=True)
    align = SGAlign(3, 2)
    inner, outer = align.plans(SEGMENTS[:9], 6)

    def fn(a, c, w):
        return sg_align_with_sampling(a, c, inner, outer, w)

    assert torch.autograd.gradcheck(fn, (x, context, weight))
