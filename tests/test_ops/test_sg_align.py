# Copyright (c) rcl_mm contributors. All rights reserved.
"""kNN graph on hand cases; SGAlign against a slow, direct reference."""
import math

import pytest
import torch

from rcl_mm.ops import (SGAlign, car_align_with_sampling, gather_neighbours,
                        knn_context, knn_graph, sg_align_sampling,
                        sg_align_with_sampling)


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


def test_bin_centred_positions_by_hand():
    # Segment (2, 3): L = 2, region [1, 4]; 2 bins x 2 points at
    # 1.375, 2.125 | 2.875, 3.625 -> on features x[t] = t the bins read
    # their mean positions 1.75 and 3.25.
    x = torch.arange(8, dtype=torch.float64).view(1, 1, 8)
    index, weight = sg_align_sampling(
        torch.tensor([[2., 3.]], dtype=torch.float64), 8, 2, 2, 0.5)
    got = car_align_with_sampling(x, index, weight)
    assert torch.allclose(got.flatten(),
                          torch.tensor([1.75, 3.25], dtype=torch.float64))


def interpolate(feat, pos):
    """BMN's modf rule, one position at a time: C values."""
    temporal_dim = feat.size(1)
    frac, lower = math.modf(pos)
    lower, upper = int(lower), math.ceil(pos)
    value = torch.zeros(feat.size(0), dtype=feat.dtype)
    if 0 <= lower <= temporal_dim - 1:
        value += (1 - frac) * feat[:, lower]
    if 0 <= upper <= temporal_dim - 1:
        value += frac * feat[:, upper]
    return value


def reference_sg_align(x, context, segments, inner_bins, context_bins,
                       points, inner_ratio=0.5, context_ratio=0.5):
    """B x C x (N_i + N_c) x K with explicit loops and formulas."""
    batch, channels, _ = x.shape
    out = torch.zeros(batch, channels, inner_bins + context_bins,
                      segments.size(-2), dtype=x.dtype)
    for b in range(batch):
        segs = segments[b] if segments.dim() == 3 else segments
        for k, (start, end) in enumerate(segs.tolist()):
            end = max(end, start)
            length = end - start + 1
            column = []
            for feat, bins, ratio in ((x[b], inner_bins, inner_ratio),
                                      (context[b], context_bins,
                                       context_ratio)):
                lo = start - ratio * length
                hi = end + ratio * length
                step = (hi - lo) / (bins * points)
                for n in range(bins):
                    total = torch.zeros(channels, dtype=x.dtype)
                    for s in range(points):
                        total += interpolate(feat,
                                             lo + (n * points + s + 0.5) *
                                             step)
                    column.append(total / points)
            out[b, :, :, k] = torch.stack(column, dim=1)
    return out


SEGMENTS = torch.tensor(
    [[0., 0.], [0., 6.], [1.3, 2.9], [4.5, 8.2], [-3., -1.], [2., 1.],
     [5.7, 5.7], [-0.4, 1.1]],
    dtype=torch.float64)


@pytest.mark.parametrize('per_video', [False, True])
def test_sg_align_equals_direct_reference(per_video):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 7, generator=gen, dtype=torch.float64)
    context = torch.randn(2, 3, 7, generator=gen, dtype=torch.float64)
    segments = SEGMENTS
    if per_video:
        segments = torch.stack([SEGMENTS, SEGMENTS.flip(0) * 0.9])
    align = SGAlign(inner_bins=4, context_bins=2, points_per_bin=3)
    got = align(x, context, segments)
    expected = reference_sg_align(x, context, segments, 4, 2, 3)
    assert got.shape == (2, 3, 6, 8)
    assert torch.allclose(got, expected, atol=1e-12)
    # Fused with G-TAD's 1x1 conv weight, O x (C * 6) x 1 x 1.
    weight = torch.randn(5, 18, 1, 1, generator=gen, dtype=torch.float64)
    inner, outer = align.plans(segments, 7)
    fused = sg_align_with_sampling(x, context, inner, outer, weight)
    projected = torch.einsum('om,bmk->bok', weight.flatten(1),
                             expected.flatten(1, 2))
    assert torch.allclose(fused, projected, atol=1e-12)


def test_sg_align_other_widening():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(1, 2, 9, generator=gen, dtype=torch.float64)
    context = torch.randn(1, 2, 9, generator=gen, dtype=torch.float64)
    align = SGAlign(3, 2, 2, inner_widen_ratio=0.0, context_widen_ratio=1.)
    expected = reference_sg_align(x, context, SEGMENTS, 3, 2, 2, 0.0, 1.0)
    assert torch.allclose(align(x, context, SEGMENTS), expected, atol=1e-12)
    assert 'inner_widen_ratio=0.0' in repr(align)


def test_sg_align_gradcheck():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, 6, generator=gen, dtype=torch.float64,
                    requires_grad=True)
    context = torch.randn(2, 3, 6, generator=gen, dtype=torch.float64,
                          requires_grad=True)
    weight = torch.randn(4, 3, 5, generator=gen, dtype=torch.float64,
                         requires_grad=True)
    align = SGAlign(3, 2, 2)
    inner, outer = align.plans(SEGMENTS[:5], 6)

    def fn(a, c, w):
        return sg_align_with_sampling(a, c, inner, outer, w)

    assert torch.autograd.gradcheck(fn, (x, context, weight))
