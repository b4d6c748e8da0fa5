# Copyright (c) rcl_mm contributors. All rights reserved.
"""Average recall vs average number of proposals (AR@AN) and its AUC,
exactly as the official ActivityNet ``Evaluation/eval_proposal.py``.

As there, the proposals kept per video are ``int(n * ratio)`` of its ``n``
with ``ratio = max_avg_proposals * videos / all proposals in the file``
(videos outside the subset count in that total), ranked by the official
``argsort()[::-1]`` of the video's scores in file order; a ground truth is
recalled when one kept proposal has IoU >= threshold (NaN IoU does not
count); videos without proposals recall nothing.
"""
from typing import Dict, Sequence

import numpy as np

from .io import GroundTruth, Predictions, video_rows
from .tiou import paired_segment_iou

AR_AN = (1, 5, 10, 100)


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    fn = getattr(np, 'trapezoid', None) or np.trapz
    return float(fn(y, x))


def average_recall_vs_proposals(
        gt: GroundTruth,
        preds: Predictions,
        max_avg_proposals: float = 100,
        tiou_thresholds: Sequence[float] = np.linspace(0.5, 0.95, 10)
) -> Dict:
    """Recall at 1..100 percent of the average number of proposals.

    Args:
        gt (GroundTruth): Ground truth (labels are ignored).
        preds (Predictions): Proposals in file order.
        max_avg_proposals (float): The largest AN; None or 0: all.
        tiou_thresholds (Sequence[float]): T thresholds.

    Returns:
        dict: ``recall`` (T x 100), ``avg_recall`` (100),
        ``proposals_per_video`` (100, the AN axis), ``auc`` (percent, as
        the official code prints it) and ``num_outside`` (proposals of
        videos outside the subset).
    """
    thr = np.asarray(tiou_thresholds, dtype=np.float64)
    # Videos with ground truth, in order of first appearance.
    vids, first = np.unique(gt.video_index, return_index=True)
    videos = vids[np.argsort(first)]
    num_videos = len(videos)
    total = len(preds)
    if num_videos == 0 or total == 0:
        raise ValueError('AR@AN needs ground truth and proposals; got '
                         f'{num_videos} videos and {total} proposals.')
    if not max_avg_proposals:
        max_avg_proposals = float(total) / num_videos
    ratio = max_avg_proposals * float(num_videos) / total

    row_of_video = np.full(len(gt.video_ids), -1, dtype=np.int64)
    row_of_video[videos] = np.arange(num_videos)
    pv = video_rows(gt, preds)
    pred_row = pv[preds.video_index]
    pred_row = np.where(pred_row >= 0, row_of_video[pred_row.clip(0)], -1)
    num_outside = int((pred_row < 0).sum())

    by_row = np.argsort(pred_row, kind='stable')
    counts = np.bincount(pred_row[pred_row >= 0], minlength=num_videos)
    offset = int(num_outside)  # -1 rows sort first
    kept, ncols = [], np.ones(num_videos, dtype=np.int64)
    total_kept = 0
    for i in range(num_videos):
        idx = by_row[offset:offset + counts[i]]
        offset += counts[i]
        if len(idx) == 0:
            continue  # one column of zero IoU, as the official code
        idx = idx[np.argsort(preds.scores[idx])[::-1]]
        nr = min(int(len(idx) * ratio), len(idx))
        total_kept += nr
        ncols[i] = nr
        kept.append(idx[:nr])
    if total_kept == 0:
        raise ValueError('No proposal is kept: max_avg_proposals * videos '
                         '/ proposals rounds every video down to 0.')

    # Ground truth rows of the AR videos, each paired with its video's
    # kept proposals (column c = rank c).
    gt_row = row_of_video[gt.video_index]
    gt_by_row = np.argsort(gt_row, kind='stable')
    gt_row = gt_row[gt_by_row]
    gt_seg = gt.segments[gt_by_row]
    prop_start = np.zeros(num_videos, dtype=np.int64)
    has = np.zeros(num_videos, dtype=bool)
    flat = np.concatenate(kept)
    j = 0
    cursor = 0
    for i in range(num_videos):
        if counts[i]:
            prop_start[i] = cursor
            cursor += len(kept[j])
            j += 1
            has[i] = True
    pairs_per_gt = ncols[gt_row]
    gt_of_pair = np.repeat(np.arange(len(gt_row)), pairs_per_gt)
    pair_starts = np.concatenate([[0], np.cumsum(pairs_per_gt)[:-1]])
    col = np.arange(len(gt_of_pair)) - np.repeat(pair_starts, pairs_per_gt)
    row = gt_row[gt_of_pair]
    with_props = has[row]
    prop = flat[(prop_start[row] + col)[with_props]]
    iou = np.zeros(len(gt_of_pair))
    seg = preds.segments[prop]
    iou[with_props] = paired_segment_iou(
        seg[:, 0], seg[:, 1], gt_seg[gt_of_pair[with_props], 0],
        gt_seg[gt_of_pair[with_props], 1])
    big = np.iinfo(np.int64).max
    hit_col = np.where(iou[:, None] >= thr[None, :], col[:, None], big)
    # A video whose int(n * ratio) is 0 keeps nothing: no pair, no hit.
    nonempty = pairs_per_gt > 0
    first_hit = np.full((len(gt_row), len(thr)), big)
    if hit_col.size:
        first_hit[nonempty] = np.minimum.reduceat(
            hit_col, pair_starts[nonempty], axis=0)

    pcn = np.arange(1, 101) / 100.0 * (
        max_avg_proposals * float(num_videos) / total_kept)
    nprop = np.minimum((ncols[:, None] * pcn[None, :]).astype(np.int64),
                       ncols[:, None])
    # matches[t, j]: ground truth found within the first nprop[video, j].
    found = first_hit[:, :, None] < nprop[gt_row][:, None, :]
    matches = found.sum(axis=0).astype(np.float64)
    recall = matches / float(len(gt_row))
    avg_recall = recall.mean(axis=0)
    per_video = pcn * (float(total_kept) / num_videos)
    auc = 100. * _trapezoid(avg_recall, per_video) / per_video[-1]
    return dict(recall=recall, avg_recall=avg_recall,
                proposals_per_video=per_video, auc=auc,
                num_outside=num_outside,
                max_avg_proposals=max_avg_proposals)


def ar_at_an(result: Dict, ans: Sequence[int] = AR_AN) -> Dict[str, float]:
    """AR@AN values and the AUC from :func:`average_recall_vs_proposals`.

    Args:
        result (dict): Its output.
        ans (Sequence[int]): The ANs; each must be a multiple of
            ``max_avg_proposals / 100``.

    Returns:
        dict: ``{'AR@1': .., 'AR@5': .., 'AR@10': .., 'AR@100': ..,
        'AUC': ..}`` (AR in [0, 1], AUC in percent).
    """
    step = result['max_avg_proposals'] / 100.
    out = {}
    for an in ans:
        pos = an / step
        if abs(pos - round(pos)) > 1e-9 or not 1 <= round(pos) <= 100:
            raise ValueError(
                f'AR@{an} is not on the AN axis (steps of {step} up to '
                f'{result["max_avg_proposals"]}); set max_avg_proposals '
                'to 100.')
        out[f'AR@{an}'] = float(result['avg_recall'][int(round(pos)) - 1])
    out['AUC'] = float(result['auc'])
    return out
