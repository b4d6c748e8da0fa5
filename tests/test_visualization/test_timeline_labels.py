# Copyright (c) rcl_mm contributors. All rights reserved.
"""Timeline plots say what they show; their labels never overlap."""
import itertools

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from rcl_mm.visualization import plot_timeline


def label_boxes(fig):
    # The returned figure is closed: draw it again on an Agg canvas, at
    # the size and dpi it was saved with.
    FigureCanvasAgg(fig).draw()
    renderer = fig.canvas.get_renderer()
    texts = [t for t in fig.axes[0].texts if t.get_gid() == 'gt-label']
    return texts, [t.get_window_extent(renderer) for t in texts]


@pytest.mark.parametrize('duration, segments, labels', [
    # 30 back-to-back instances of one class (the "SwimmingSwimming" case).
    (60.0, [[2.0 * i, 2.0 * i + 1.9] for i in range(30)], ['Swimming'] * 30),
    # Nested and overlapping segments of classes with long names, one at
    # the very end of the video.
    (100.0, [[10, 60], [12, 20], [13, 14], [15, 90], [16, 17], [97, 100]],
     ['Playing bagpipes', 'Using the balance beam', 'Hopscotch',
      'Painting fence', 'Snow tubing', 'Removing ice from car']),
])
def test_crowded_ground_truth_labels_do_not_overlap(tmp_path, duration,
                                                     segments, labels):
    fig = plot_timeline(
        str(tmp_path / 't.png'), duration=duration, gt_segments=segments,
        gt_labels=labels, detections=np.array([[1.0, 5.0, 0.9]]),
        model='rcl_bmn_demo', video='v_crowded')
    texts, boxes = label_boxes(fig)
    assert [t.get_text() for t in texts] == labels
    for (i, a), (j, b) in itertools.combinations(enumerate(boxes), 2):
        assert not a.overlaps(b), (labels[i], labels[j], a, b)
    # Every label whole inside the figure, and above the ground-truth bars
    # and the detections (not over them).
    ax = fig.axes[0]
    width, height = fig.canvas.get_width_height()
    gt_top = ax.transData.transform((0, len(ax.get_yticks()) - 0.2))[1]
    for box in boxes:
        assert 0 <= box.x0 and box.x1 <= width
        assert gt_top <= box.y0 and box.y1 <= height
    # Each label starts at its segment, or ends at the axis' right end.
    for text, (start, _) in zip(texts, segments):
        if text.get_horizontalalignment() == 'left':
            assert text.get_position()[0] == start
        else:
            assert text.get_position()[0] == duration
    # The figure grew for the lanes: more than one lane was needed.
    assert len({round(b.y0) for b in boxes}) > 1


def test_title_names_model_and_video_and_axis_the_unit(tmp_path):
    fig = plot_timeline(
        str(tmp_path / 'a.png'), duration=50.0, gt_segments=[],
        detections=np.array([[1.0, 5.0, 0.9]]), model='bmn_anet',
        video='v_abc', time_unit='snippets')
    ax = fig.axes[0]
    assert ax.get_title() == 'bmn_anet | v_abc'
    assert ax.get_xlabel() == 'time (snippets)'
    fig = plot_timeline(
        str(tmp_path / 'b.png'), duration=50.0, gt_segments=[[1, 2]],
        gt_labels=['Long jump'], detections=np.zeros((0, 3)),
        model='rcl_bmn_demo', video='v_abc', title='seed 0')
    ax = fig.axes[0]
    assert ax.get_title() == 'rcl_bmn_demo | v_abc | seed 0'
    assert ax.get_xlabel() == 'time (s)'
    with pytest.raises(ValueError, match='time_unit'):
        plot_timeline(str(tmp_path / 'c.png'), duration=5.0, gt_segments=[],
                      detections=np.zeros((0, 3)), time_unit='frames')
