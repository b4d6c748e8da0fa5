# Copyright (c) rcl_mm contributors. All rights reserved.
"""DETAD-style sensitivity breakdown: average mAP per ground-truth
coverage and length bin (Alwassel et al., "Diagnosing Error in Temporal
Action Detectors", ECCV 2018).

Bins, as the DETAD toolbox: coverage (length / video duration) in
``(0, .2], (.2, .4], (.4, .6], (.6, .8], (.8, 1]`` (XS..XL, the first closed
at 0) and length in seconds in ``[0, 30], (30, 60], (60, 120],
(120, 180], (180, inf)``. For a bin, the ground truth is the bin's
instances and the predictions are all predictions except the true positives
of instances outside the bin (from the full evaluation's matching); the
mAP averages the classes with an instance in the bin (plain AP, not
DETAD's normalised AP).
"""
from typing import Dict, Optional

import numpy as np

from .detection import class_average_precision
from .io import GroundTruth

COVERAGE_BINS = (np.linspace(0, 1.0, 6), ('XS', 'S', 'M', 'L', 'XL'))
LENGTH_BINS = (np.array([0, 30, 60, 120, 180, np.inf]),
               ('XS', 'S', 'M', 'L', 'XL'))


def bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Right-closed bins, the first also closed on the left.

    Args:
        values (np.ndarray): K values.
        edges (np.ndarray): B + 1 increasing edges.

    Returns:
        np.ndarray: K bin indices in ``[0, B)``; -1 outside (or NaN).
    """
    idx = np.searchsorted(edges, values, side='left') - 1
    idx[values == edges[0]] = 0
    idx[(idx < 0) | (idx >= len(edges) - 1) | np.isnan(values)] = -1
    return idx


def detad_breakdown(gt: GroundTruth, result: Dict) -> Dict:
    """Average mAP per coverage bin and per length bin.

    Args:
        gt (GroundTruth): The ground truth ``result`` was computed on.
        result (dict): :func:`detection_map`'s output.

    Returns:
        dict: ``{'coverage': {'XS': x or None, ...}, 'length': {...}}``
        (None: no instance in the bin, or no durations for coverage).
    """
    length = gt.segments[:, 1] - gt.segments[:, 0]
    coverage = length / gt.durations[gt.video_index]
    out = {}
    for name, values, (edges, labels) in (
            ('coverage', coverage, COVERAGE_BINS),
            ('length', length, LENGTH_BINS)):
        bins = bin_index(values, edges)
        out[name] = {
            label: _bin_average_map(gt, result, bins == b)
            for b, label in enumerate(labels)
        }
    return out


def _bin_average_map(gt: GroundTruth, result: Dict,
                     in_bin: np.ndarray) -> Optional[float]:
    if not in_bin.any():
        return None
    tp, matched = result['tp'], result['matched']
    bounds = result['bounds']
    num_c = len(bounds) - 1
    npos = np.bincount(gt.labels[in_bin], minlength=num_c)
    classes = npos > 0
    cls_of_row = np.repeat(np.arange(num_c), np.diff(bounds))
    maps = []
    for t in range(tp.shape[1]):
        hit_in = tp[:, t] & in_bin[matched[:, t].clip(0)]
        keep = ~(tp[:, t] & ~hit_in)
        counts = np.bincount(cls_of_row[keep], minlength=num_c)
        kept_bounds = np.concatenate([[0], np.cumsum(counts)])
        ap = class_average_precision(hit_in[keep][:, None], kept_bounds,
                                     npos)
        maps.append(ap[0, classes].mean())
    return float(np.mean(maps))


def plot_breakdown(breakdown: Dict, out_file: str,
                   average_map: Optional[float] = None) -> None:
    """Bar charts of :func:`detad_breakdown`, saved as an image.

    Args:
        breakdown (dict): Its output.
        out_file (str): PNG path.
        average_map (float, optional): Drawn as a dashed line.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 3), sharey=True)
    for ax, name in zip(axes, ('coverage', 'length')):
        labels = list(breakdown[name])
        values = [100 * (breakdown[name][k] or 0) for k in labels]
        ax.bar(labels, values, color='tab:blue')
        for i, v in enumerate(values):
            ax.text(i, v, f'{v:.1f}', ha='center', va='bottom', fontsize=8)
        if average_map is not None:
            ax.axhline(100 * average_map, color='k', ls='--', lw=1)
        ax.set_title(f'{name} bins')
    axes[0].set_ylabel('average mAP (%)')
    fig.tight_layout()
    fig.savefig(out_file, dpi=100)
    plt.close(fig)
