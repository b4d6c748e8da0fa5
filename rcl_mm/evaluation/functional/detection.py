# Copyright (c) rcl_mm contributors. All rights reserved.
"""Interpolated AP and detection mAP, exactly as the official ActivityNet
``Evaluation/eval_detection.py`` computes them, vectorised.

What "exactly" covers (see docs/evaluation.md):

- Predictions of a class are ranked by ``np.argsort(scores)[::-1]`` of the
  class's scores in file order, the official call, so tied scores rank as
  there.
- A prediction takes the unmatched ground truth of its video and class with
  the highest IoU >= threshold; IoU ties go by the official
  ``argsort()[::-1]`` of the video's IoU row (the same numpy call, per row).
  Two zero-length segments have IoU NaN, which the official test
  ``iou < threshold`` lets through: such a prediction matches.
- Duplicate ground truth counts twice in the positives.
- Predictions for videos without ground truth of the class (also videos
  outside the subset) are false positives.
- The AP sum and the class means are the same numpy reductions on arrays of
  the same layout, so the floats are bit-identical.
"""
from typing import Dict, Optional, Sequence

import numpy as np

from .io import EvaluationInputError, GroundTruth, Predictions, video_rows
from .tiou import paired_segment_iou

ACTIVITYNET_TIOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
# The literal list the THUMOS14 codebases (G-TAD, BMN, AFSD) pass.
THUMOS14_TIOU_THRESHOLDS = np.array([0.3, 0.4, 0.5, 0.6, 0.7])


def interpolated_ap(precision: np.ndarray, recall: np.ndarray) -> float:
    """VOC 2011 interpolated AP of one precision-recall curve.

    Args:
        precision (np.ndarray): N precision at each rank.
        recall (np.ndarray): N recall at each rank (non-decreasing).

    Returns:
        float: The area under the precision envelope.
    """
    mprec = np.hstack([[0], precision, [0]])
    mrec = np.hstack([[0], recall, [1]])
    # The envelope: the best precision at this recall or beyond.
    mprec = np.maximum.accumulate(mprec[::-1])[::-1]
    idx = np.where(mrec[1:] != mrec[:-1])[0] + 1
    return float(np.sum((mrec[idx] - mrec[idx - 1]) * mprec[idx]))


def _class_ranking(labels: np.ndarray, scores: np.ndarray,
                   num_classes: int):
    """Predictions class by class, each by the official score order.

    Returns:
        tuple: ``order`` (N prediction indices) and ``bounds`` (C + 1:
        class c is ``order[bounds[c]:bounds[c + 1]]``).
    """
    by_class = np.argsort(labels, kind='stable')  # file order kept
    counts = np.bincount(labels, minlength=num_classes)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    parts = []
    for c in range(num_classes):
        idx = by_class[bounds[c]:bounds[c + 1]]
        # The official ranking: quicksort, reversed (decides tied scores).
        parts.append(idx[np.argsort(scores[idx])[::-1]])
    order = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    return order, bounds


def match_detections(gt: GroundTruth, pred_video: np.ndarray,
                     pred_labels: np.ndarray, pred_segments: np.ndarray,
                     pred_scores: np.ndarray,
                     tiou_thresholds: Sequence[float]) -> Dict:
    """Greedy matching of predictions to ground truth at each threshold.

    Args:
        gt (GroundTruth): Ground truth.
        pred_video (np.ndarray): N int, the ground-truth video index of
            each prediction, -1 for a video outside the subset.
        pred_labels (np.ndarray): N int, class index into
            ``gt.class_names``.
        pred_segments (np.ndarray): N x 2 float64.
        pred_scores (np.ndarray): N float64.
        tiou_thresholds (Sequence[float]): T thresholds.

    Returns:
        dict: ``order`` (N, the official ranking, class by class),
        ``bounds`` (C + 1), ``tp`` (N x T bool, in ``order``) and
        ``matched`` (N x T int, the matched ground-truth instance or -1,
        in ``order``).
    """
    thr = np.asarray(tiou_thresholds, dtype=np.float64)
    num_t = len(thr)
    num_v = max(len(gt.video_ids), 1)
    order, bounds = _class_ranking(pred_labels, pred_scores,
                                   len(gt.class_names))
    n = len(order)
    tp = np.zeros((n, num_t), dtype=bool)
    matched = np.full((n, num_t), -1, dtype=np.int64)
    if n == 0 or gt.num_instances == 0:
        return dict(order=order, bounds=bounds, tp=tp, matched=matched)

    # Ground truth grouped by (class, video), file order inside a group.
    gkey = gt.labels * num_v + gt.video_index
    gt_order = np.argsort(gkey, kind='stable')
    keys, gstart, gsize = np.unique(
        gkey[gt_order], return_index=True, return_counts=True)

    s_vid = pred_video[order]
    pkey = pred_labels[order] * num_v + s_vid
    grp = np.searchsorted(keys, pkey).clip(max=len(keys) - 1)
    has_gt = (s_vid >= 0) & (keys[grp] == pkey)
    s_seg = pred_segments[order]
    tmin = thr.min()
    for g in np.unique(gsize[grp[has_gt]]):
        rows = np.flatnonzero(has_gt & (gsize[grp] == g))
        gt_idx = gt_order[gstart[grp[rows]][:, None] + np.arange(g)]
        gseg = gt.segments[gt_idx]
        iou = paired_segment_iou(s_seg[rows, 0:1], s_seg[rows, 1:2],
                                 gseg[..., 0], gseg[..., 1])
        # Predictions below every threshold are false positives and lock
        # nothing; only the rest needs the sequential pass.
        keep = (~(iou < tmin)).any(axis=1)
        rows, iou, gt_idx = rows[keep], iou[keep], gt_idx[keep]
        if len(rows) == 0:
            continue
        # Position of each ground truth in the official visiting order.
        perm = np.argsort(iou, axis=1)[:, ::-1]
        rank = np.empty_like(perm)
        np.put_along_axis(rank, perm, np.arange(g)[None, :], axis=1)
        # Step k handles the k-th prediction of every group at once:
        # groups are independent, and inside one the ranking decides.
        group_of_row = np.unique(grp[rows], return_inverse=True)[1]
        group_of_row = group_of_row.reshape(-1)
        by_group = np.argsort(group_of_row, kind='stable')
        counts = np.bincount(group_of_row)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        step = np.empty(len(rows), dtype=np.int64)
        step[by_group] = np.arange(len(rows)) - np.repeat(starts, counts)
        lock = np.zeros((len(counts), num_t, g), dtype=bool)
        by_step = np.argsort(step, kind='stable')
        step_bounds = np.concatenate(
            [[0], np.cumsum(np.bincount(step))])
        for k in range(len(step_bounds) - 1):
            r = by_step[step_bounds[k]:step_bounds[k + 1]]
            grp_r = group_of_row[r]
            cand = ~(iou[r][:, None, :] < thr[None, :, None]) & ~lock[grp_r]
            key = np.where(cand, rank[r][:, None, :], g)
            j = key.argmin(axis=2)
            hit = np.take_along_axis(key, j[..., None], axis=2)[..., 0] < g
            hi, ht = np.nonzero(hit)
            lock[grp_r[hi], ht, j[hi, ht]] = True
            tp[rows[r]] = hit
            matched[rows[r[hi]], ht] = gt_idx[r[hi], j[hi, ht]]
    return dict(order=order, bounds=bounds, tp=tp, matched=matched)


def class_average_precision(tp: np.ndarray, bounds: np.ndarray,
                            num_positives: np.ndarray) -> np.ndarray:
    """AP of every class and threshold from ranked true positives.

    Args:
        tp (np.ndarray): N x T bool, class by class, ranked.
        bounds (np.ndarray): C + 1 class boundaries in ``tp``.
        num_positives (np.ndarray): C ground-truth instances per class.

    Returns:
        np.ndarray: T x C AP (0 for a class without predictions or
        without positives).
    """
    num_t = tp.shape[1]
    num_c = len(bounds) - 1
    ap = np.zeros((num_t, num_c))
    for c in range(num_c):
        a, b = bounds[c], bounds[c + 1]
        npos = float(num_positives[c])
        if a == b or npos == 0:
            continue
        tp_cum = np.cumsum(tp[a:b].T, axis=1).astype(np.float64)
        # tp + fp cumulated is the rank: exact integers, as official.
        precision = tp_cum / np.arange(1, b - a + 1, dtype=np.float64)
        recall = tp_cum / npos
        for t in range(num_t):
            ap[t, c] = interpolated_ap(precision[t], recall[t])
    return ap


def _pred_to_gt(gt: GroundTruth, preds: Predictions, path: str):
    """Map prediction videos and labels onto the ground truth's indices."""
    pv = video_rows(gt, preds)
    pred_video = pv[preds.video_index] if len(pv) else np.zeros(0, int)
    class_index = {c: i for i, c in enumerate(gt.class_names)}
    lut = np.array([class_index.get(n, -1) for n in preds.label_names] +
                   [-1], dtype=np.int64)
    if (preds.labels < 0).any():
        bad = int(np.flatnonzero(preds.labels < 0)[0])
        raise EvaluationInputError(
            f'{path}: video {preds.video_ids[preds.video_index[bad]]!r} has '
            'a detection without "label"; detection mAP needs labels '
            '(class-agnostic proposals: evaluate AR@AN instead).')
    pred_labels = lut[preds.labels]
    if (pred_labels < 0).any():
        bad, v, position, more = preds.first_flagged(pred_labels < 0)
        raise EvaluationInputError(
            f'{path}: video {preds.video_ids[v]!r}, detection {position}'
            f' has label {preds.label_names[preds.labels[bad]]!r}, which no '
            f'ground-truth instance of the subset has{more} (the official '
            'code stops with a KeyError too); map it to a ground-truth '
            'class, or evaluate class-agnostic proposals (--proposals).')
    return pred_video, pred_labels


def detection_map(gt: GroundTruth,
                  preds: Predictions,
                  tiou_thresholds: Sequence[float] = (
                      ACTIVITYNET_TIOU_THRESHOLDS),
                  path: str = '<predictions>') -> Dict:
    """Detection mAP at each tIoU threshold and their mean.

    Args:
        gt (GroundTruth): Ground truth of the subset.
        preds (Predictions): Labelled predictions, in file order.
        tiou_thresholds (Sequence[float]): T thresholds.
        path (str): File name for messages.

    Returns:
        dict: ``tiou_thresholds`` (T), ``ap`` (T x C), ``mAP`` (T),
        ``average_mAP`` (float), ``num_outside`` (predictions whose video
        is not in the subset, counted as false positives), and the
        matching (``order``, ``bounds``, ``tp``, ``matched``, ``pred_video``,
        ``pred_labels``) for breakdowns.
    """
    thr = np.asarray(tiou_thresholds, dtype=np.float64)
    pred_video, pred_labels = _pred_to_gt(gt, preds, path)
    m = match_detections(gt, pred_video, pred_labels, preds.segments,
                         preds.scores, thr)
    npos = np.bincount(gt.labels, minlength=len(gt.class_names))
    ap = class_average_precision(m['tp'], m['bounds'], npos)
    mean_ap = ap.mean(axis=1)
    return dict(
        tiou_thresholds=thr, ap=ap, mAP=mean_ap,
        average_mAP=float(mean_ap.mean()),
        num_outside=int((pred_video < 0).sum()),
        pred_video=pred_video, pred_labels=pred_labels, **m)


def detection_summary(result: Dict) -> Dict:
    """The JSON-able part of :func:`detection_map`'s result.

    Args:
        result (dict): What :func:`detection_map` returns.

    Returns:
        dict: ``{'tiou_thresholds': [...], 'mAP': [...],
        'average_mAP': x}``.
    """
    return {
        'tiou_thresholds': [float(t) for t in result['tiou_thresholds']],
        'mAP': [float(x) for x in result['mAP']],
        'average_mAP': float(result['average_mAP']),
    }


def default_tiou_thresholds(dataset: str,
                            thresholds: Optional[Sequence[float]] = None
                            ) -> np.ndarray:
    """The standard thresholds of ``'activitynet'`` or ``'thumos14'``.

    Args:
        dataset (str): ``'activitynet'`` or ``'thumos14'``.
        thresholds (Sequence[float], optional): Overrides the standard.

    Returns:
        np.ndarray: T thresholds.
    """
    if thresholds is not None:
        return np.asarray(thresholds, dtype=np.float64)
    if dataset == 'activitynet':
        return ACTIVITYNET_TIOU_THRESHOLDS.copy()
    if dataset == 'thumos14':
        return THUMOS14_TIOU_THRESHOLDS.copy()
    raise ValueError(f'Unknown dataset {dataset!r}: use "activitynet" or '
                     '"thumos14", or give the tIoU thresholds.')
