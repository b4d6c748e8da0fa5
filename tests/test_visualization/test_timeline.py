# Copyright (c) rcl_mm contributors. All rights reserved.
import os
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rcl_mm.visualization import plot_timeline


def test_plot_timeline_writes_a_png(tmp_path):
    out = tmp_path / 'timeline.png'
    detections = np.array([[1.0, 5.0, 0.9], [2.0, 9.0, 0.3],
                           [0.0, 3.0, 0.5]])
    plot_timeline(str(out), duration=10.0, gt_segments=[[1.0, 4.5]],
                  gt_labels=['Swimming'], detections=detections,
                  title='v_x', top_k=2)
    data = out.read_bytes()
    assert data[:8] == b'\x89PNG\r\n\x1a\n'
    # Nothing but the PNG is left in the folder (no temporary file).
    assert os.listdir(tmp_path) == ['timeline.png']


# Scores as they come: any magnitude, ties (a few values), any count.
_scores = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 0.25, 0.5, 1.0]))


def _drawn_alphas(**kwargs):
    """Plot and return the alpha of each detection bar drawn."""
    from matplotlib.axes import Axes
    alphas = []
    original = Axes.broken_barh

    def record(self, xranges, yrange, **style):
        if style.get('facecolors') == 'tab:blue':
            alphas.append(style['alpha'])
        return original(self, xranges, yrange, **style)

    with mock.patch.object(Axes, 'broken_barh', record):
        plot_timeline(**kwargs)
    return alphas


@settings(max_examples=25, deadline=None)
@given(st.lists(_scores, max_size=12), st.integers(1, 10))
def test_plot_timeline_any_scores(tmp_path_factory, scores, top_k):
    """Any finite scores, ties, one or no detection: a PNG, every bar's
    alpha in [0.2, 1], the best detection's 1 when the best score is
    positive."""
    out = tmp_path_factory.mktemp('plot') / 'p.png'
    dets = np.array([[i, i + 2.0, s] for i, s in enumerate(scores)],
                    dtype=np.float64).reshape(-1, 3)
    alphas = _drawn_alphas(out_file=str(out), duration=20.0,
                           gt_segments=[[1.0, 3.0]], detections=dets,
                           top_k=top_k)
    assert out.read_bytes()[:4] == b'\x89PNG'
    assert len(alphas) == min(len(scores), top_k)
    assert all(0.2 <= a <= 1.0 for a in alphas)
    if scores and max(scores) > 0:
        assert alphas[0] == 1.0


def test_plot_timeline_score_ratio_that_rounds_above_one(tmp_path):
    # (0.8 * s) / max rounds to 0.8000000000000002 for the best score
    # here: the alpha was 1.0000000000000002 and matplotlib refused it.
    scores = [0.25, 0.6369616873214543, 0.5, 0.1, 0.3]
    best = max(scores)
    assert 0.2 + 0.8 * best / best > 1.0
    dets = [[i, i + 1.0, s] for i, s in enumerate(scores)]
    alphas = _drawn_alphas(out_file=str(tmp_path / 'p.png'), duration=10.0,
                           gt_segments=[], detections=dets)
    assert alphas[0] == 1.0 and len(alphas) == 5


@pytest.mark.parametrize('bad', [float('nan'), float('inf')])
def test_plot_timeline_refuses_non_finite(tmp_path, bad):
    dets = [[0.0, 1.0, 0.5], [1.0, bad, 0.4]]
    with pytest.raises(ValueError, match=r'p.png: detection 1 .* is not '
                       'finite'):
        plot_timeline(str(tmp_path / 'p.png'), duration=10.0,
                      gt_segments=[], detections=dets)
    assert not (tmp_path / 'p.png').exists()


def test_plot_timeline_frame_strip_on_the_time_axis(tmp_path):
    out = tmp_path / 'strip.png'
    # Four frames 2.5 s apart on a 10 s video, each a plain colour.
    frames = [(t, np.full((12, 16, 3), 60 * i, dtype=np.uint8))
              for i, t in enumerate((0.0, 2.5, 5.0, 7.5))]
    fig = plot_timeline(str(out), duration=10.0, gt_segments=[[1.0, 4.0]],
                        gt_labels=['Swimming'],
                        detections=[[1.0, 5.0, 0.9]], frames=frames,
                        model='m', video='v')
    strip, timeline = fig.axes
    images = strip.get_images()
    # Each frame centred on its time, 2.5 s wide, clipped at 0.
    assert [tuple(im.get_extent()) for im in images] == [
        (0.0, 1.25, 0, 1), (1.25, 3.75, 0, 1), (3.75, 6.25, 0, 1),
        (6.25, 8.75, 0, 1)]
    assert [int(im.get_array()[0, 0, 0]) for im in images] == [0, 60, 120,
                                                               180]
    assert strip.get_xlim() == timeline.get_xlim() == (0.0, 10.0)
    # The strip is above the timeline and keeps its height.
    assert strip.get_position().y0 > timeline.get_position().y1
    assert strip.get_title() == 'm | v'
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    # Without frames: one axis, as before.
    fig = plot_timeline(str(out), duration=10.0, gt_segments=[],
                        detections=[[1.0, 5.0, 0.9]])
    assert len(fig.axes) == 1
