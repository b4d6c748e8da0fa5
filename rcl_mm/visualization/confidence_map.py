# Copyright (c) rcl_mm contributors. All rights reserved.
"""Plots of a D x T confidence map (BMN's / RCL's, one RRM iteration)."""
import io
from typing import Optional

import numpy as np

from rcl_mm.utils.io import atomic_write


def plot_confidence_map(out_file: str,
                        confidence_map: np.ndarray,
                        gt_iou_map: Optional[np.ndarray] = None,
                        valid_mask: Optional[np.ndarray] = None,
                        title: Optional[str] = None) -> None:
    """Draw the regression and classification channels of a map.

    Axes as the map is indexed: x = start index t, y = duration index d
    (cell (d, t) is the segment [t, t + d + 1] in snippets). Cells outside
    ``valid_mask`` (anchors ending past the window) are blank. With
    ``gt_iou_map`` a third panel shows the target max tIoU.

    Args:
        out_file (str): PNG path; written atomically.
        confidence_map (np.ndarray): 2 x D x T confidences in [0, 1] (tIoU
            regression, tIoU classification).
        gt_iou_map (np.ndarray, optional): D x T target tIoU.
        valid_mask (np.ndarray, optional): D x T, 1 where the cell counts.
        title (str, optional): Figure title.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    confidence_map = np.asarray(confidence_map, dtype=np.float64)
    panels = [('tIoU regression', confidence_map[0]),
              ('tIoU > 0.9 classification', confidence_map[1])]
    if gt_iou_map is not None:
        panels.append(('target tIoU', np.asarray(gt_iou_map, np.float64)))
    fig, axes = plt.subplots(1, len(panels),
                             figsize=(3.6 * len(panels) + 0.6, 3.6))
    for ax, (name, values) in zip(np.atleast_1d(axes), panels):
        if valid_mask is not None:
            values = np.where(np.asarray(valid_mask) > 0, values, np.nan)
        image = ax.imshow(values, origin='lower', vmin=0, vmax=1,
                          cmap='viridis', aspect='auto',
                          interpolation='nearest')
        ax.set_title(name, fontsize=9)
        ax.set_xlabel('start t')
        ax.set_ylabel('duration d')
    fig.colorbar(image, ax=axes, shrink=0.8)
    if title:
        fig.suptitle(title, fontsize=10)
    buffer = io.BytesIO()
    fig.savefig(buffer, format='png', dpi=90)
    plt.close(fig)
    with atomic_write(out_file, 'wb') as f:
        f.write(buffer.getvalue())
