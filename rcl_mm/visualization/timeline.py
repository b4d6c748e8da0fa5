# Copyright (c) rcl_mm contributors. All rights reserved.
"""Timeline plots: detections of one video against its ground truth."""
import io
from typing import Optional, Sequence

import numpy as np

from rcl_mm.utils.io import atomic_write


def plot_timeline(out_file: str,
                  duration: float,
                  gt_segments: Sequence[Sequence[float]],
                  detections: np.ndarray,
                  gt_labels: Optional[Sequence[str]] = None,
                  title: Optional[str] = None,
                  top_k: int = 10) -> None:
    """Draw ground truth and the top detections of a video on a timeline.

    The ground truth is one row of green bars; below it the ``top_k``
    detections, one row each, ordered by score, with bar opacity
    proportional to the score.

    Args:
        out_file (str): PNG path; written atomically.
        duration (float): Video duration in seconds (the x range).
        gt_segments (Sequence): G x 2 ground-truth segments in seconds.
        detections (np.ndarray): M x 3 (start, end, score), seconds.
        gt_labels (Sequence[str], optional): Label of each gt segment.
        title (str, optional): Figure title, e.g. the video name.
        top_k (int): Detections drawn. Defaults to 10.

    Raises:
        ValueError: For a detection with a NaN or infinite value (the
            readers refuse those before; none is drawn silently wrong).
    """
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
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.3 * rows))
    for i, (start, end) in enumerate(np.asarray(gt_segments).reshape(-1, 2)):
        ax.broken_barh([(start, end - start)], (rows - 1, 0.8),
                       facecolors='tab:green')
        if gt_labels is not None:
            ax.text(start, rows - 0.55, str(gt_labels[i]), fontsize=7,
                    va='center')
    max_score = max(float(detections[:, 2].max()), 1e-12) \
        if len(detections) else 1.0
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
    ax.set_xlabel('time (s)')
    if title:
        ax.set_title(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format='png', dpi=100)
    plt.close(fig)
    with atomic_write(out_file, 'wb') as f:
        f.write(buffer.getvalue())
