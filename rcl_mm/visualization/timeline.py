# Copyright (c) rcl_mm contributors. All rights reserved.
"""Timeline plots: detections of one video against its ground truth."""
import io
from typing import List, Optional, Sequence, Tuple

import numpy as np

from rcl_mm.utils.io import atomic_write

#: Axis names of the time units.
TIME_UNITS = {'s': 'time (s)', 'seconds': 'time (s)',
              'snippets': 'time (snippets)'}
#: Height of one lane of ground-truth labels, in rows of the plot.
LABEL_LANE = 0.5
#: Smallest horizontal gap between two labels of a lane, in pixels.
LABEL_GAP = 3
#: Height of the strip of video frames, in inches.
STRIP_INCHES = 0.9


def _draw_frame_strip(ax, frames, duration: float) -> None:
    """Draw each frame centred on its time, as wide as the gap between
    frames (the first and last clipped to ``[0, duration]``)."""
    times = np.array([float(t) for t, _ in frames])
    if len(times) > 1:
        half = np.diff(times).min() / 2
    else:
        half = duration / 2
    half = max(half, 1e-9)
    for time, image in frames:
        left, right = max(0.0, time - half), min(duration, time + half)
        if right <= left:
            continue
        ax.imshow(np.asarray(image), extent=(left, right, 0, 1),
                  aspect='auto', interpolation='bilinear', gid='frame')
    ax.set_xlim(0, duration)
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.tick_params(axis='x', labelbottom=False, bottom=False)
    ax.set_ylabel('video', rotation=0, ha='right', va='center',
                  fontsize=7)


def _stack_labels(fig, ax, texts: List, base: float) -> int:
    """Put each label in the lowest lane where it overlaps no other label.

    Labels start at their segment (or end at the axis' right end when they
    would run past it); lane ``i`` is drawn at ``base + i * LABEL_LANE``.
    Widths are measured by the renderer, so no two labels touch however
    crowded the ground truth.

    Returns:
        int: The number of lanes used.
    """
    renderer = fig.canvas.get_renderer()
    boxes = []
    for text in texts:
        text.set_horizontalalignment('left')
        text.set_x(text.start)
        box = text.get_window_extent(renderer)
        if box.x1 > ax.bbox.x1:
            text.set_horizontalalignment('right')
            text.set_x(ax.get_xlim()[1])
            box = text.get_window_extent(renderer)
        boxes.append((box.x0, box.x1, text))
    lane_ends = []
    for x0, x1, text in sorted(boxes, key=lambda b: (b[0], b[1])):
        lane = next((i for i, end in enumerate(lane_ends)
                     if x0 >= end + LABEL_GAP), len(lane_ends))
        if lane == len(lane_ends):
            lane_ends.append(x1)
        lane_ends[lane] = x1
        text.set_y(base + lane * LABEL_LANE)
    return len(lane_ends)


def plot_timeline(out_file: str,
                  duration: float,
                  gt_segments: Sequence[Sequence[float]],
                  detections: np.ndarray,
                  gt_labels: Optional[Sequence[str]] = None,
                  title: Optional[str] = None,
                  top_k: int = 10,
                  model: Optional[str] = None,
                  video: Optional[str] = None,
                  time_unit: str = 's',
                  frames: Optional[Sequence[Tuple[float,
                                                  np.ndarray]]] = None):
    """Draw ground truth and the top detections of a video on a timeline.

    The ground truth is one row of green bars, its labels above it in as
    many lanes as they need never to overlap; below it the ``top_k``
    detections, one row each, ordered by score, with bar opacity
    proportional to the score. The title names the model and the video,
    the x axis the time unit. With ``frames``, a strip of video frames
    runs above the timeline on the same time axis, each frame centred on
    its time.

    Args:
        out_file (str): PNG path; written atomically.
        duration (float): Video duration in ``time_unit`` (the x range).
        gt_segments (Sequence): G x 2 ground-truth segments.
        detections (np.ndarray): M x 3 (start, end, score).
        gt_labels (Sequence[str], optional): Label of each gt segment.
        title (str, optional): More title text, after model and video.
        top_k (int): Detections drawn. Defaults to 10.
        model (str, optional): The model (e.g. its config name).
        video (str, optional): The video's name.
        time_unit (str): ``'s'`` (or ``'seconds'``) or ``'snippets'``.
        frames (Sequence[tuple[float, np.ndarray]], optional): ``(time,
            H x W x 3 uint8 image)`` pairs in ``time_unit``, by time
            (e.g. the thumbnails of
            :func:`rcl_mm.apis.feature_extraction.extract_video_features`).

    Returns:
        matplotlib.figure.Figure: The figure (closed), to inspect.

    Raises:
        ValueError: For a detection with a NaN or infinite value (the
            readers refuse those before; none is drawn silently wrong).
    """
    if time_unit not in TIME_UNITS:
        raise ValueError(f'time_unit must be one of {sorted(TIME_UNITS)}, '
                         f'got {time_unit!r}')
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    detections = np.asarray(detections, dtype=np.float64).reshape(-1, 3)
    if not np.isfinite(detections).all():
        bad = int(np.flatnonzero(~np.isfinite(detections).all(axis=1))[0])
        raise ValueError(
            f'Timeline {out_file}: detection {bad} {detections[bad].tolist()}'
            ' is not finite; check the predictions.')
    detections = detections[np.argsort(-detections[:, 2],
                                       kind='stable')][:top_k]
    rows = 1 + len(detections)
    strip = None
    if frames:
        # The strip's height stays STRIP_INCHES when the figure grows.
        fig, (strip, ax) = plt.subplots(
            2, 1, sharex=True, figsize=(10, STRIP_INCHES + 1.2 + 0.3 * rows),
            gridspec_kw=dict(height_ratios=(STRIP_INCHES, 1.2 + 0.3 * rows)))
        _draw_frame_strip(strip, frames, duration)
    else:
        fig, ax = plt.subplots(figsize=(10, 1.2 + 0.3 * rows))
    labels = []
    for i, (start, end) in enumerate(np.asarray(gt_segments).reshape(-1, 2)):
        ax.broken_barh([(start, end - start)], (rows - 1, 0.8),
                       facecolors='tab:green')
        if gt_labels is not None:
            text = ax.text(start, rows, str(gt_labels[i]), fontsize=7,
                           va='bottom', gid='gt-label', clip_on=False)
            text.start = start
            labels.append(text)
    # The best score itself (any positive value, subnormal ones too), so
    # that the best bar is opaque; 1 when no score is positive.
    best = float(detections[:, 2].max()) if len(detections) else 0.0
    max_score = best if best > 0 else 1.0
    for row, (start, end, score) in enumerate(detections):
        y = rows - 2 - row
        # Clipped: score / max_score rounds above 1 for the best score
        # now and then, and matplotlib refuses alpha > 1.
        ax.broken_barh([(start, end - start)], (y, 0.8),
                       facecolors='tab:blue',
                       alpha=float(np.clip(0.2 + 0.8 * score / max_score,
                                           0.2, 1.0)))
        ax.text(min(end, duration), y + 0.4, f' {score:.3f}', fontsize=7,
                va='center')
    ax.set_xlim(0, duration)
    ax.set_ylim(-0.2, rows)
    ax.set_yticks([rows - 0.6] + [rows - 1.6 - r for r in
                                  range(len(detections))])
    ax.set_yticklabels(['ground truth'] +
                       [f'#{r + 1}' for r in range(len(detections))],
                       fontsize=7)
    ax.set_xlabel(TIME_UNITS[time_unit])
    full_title = ' | '.join(str(part) for part in (model, video, title)
                            if part)
    if full_title:
        (strip if strip is not None else ax).set_title(full_title)
    fig.tight_layout()
    # Label lanes above the ground truth: the figure grows by their height
    # (same scale as the rows), which can move the axes; so stack again
    # until the lanes no longer change.
    lanes = 0
    for _ in range(4):
        new_lanes = _stack_labels(fig, ax, labels, rows - 0.1)
        if new_lanes == lanes:
            break
        lanes = new_lanes
        top = rows + lanes * LABEL_LANE
        main_inches = 1.2 + 0.3 * (rows + lanes * LABEL_LANE)
        if strip is not None:
            fig.set_size_inches(10, STRIP_INCHES + main_inches)
            strip.get_gridspec().set_height_ratios((STRIP_INCHES,
                                                    main_inches))
        else:
            fig.set_size_inches(10, main_inches)
        ax.set_ylim(-0.2, top)
        fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format='png', dpi=100)
    plt.close(fig)
    with atomic_write(out_file, 'wb') as f:
        f.write(buffer.getvalue())
    return fig
