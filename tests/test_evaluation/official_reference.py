# Copyright (c) rcl_mm contributors. All rights reserved.
"""A slow, loop-by-loop statement of the official ActivityNet evaluation
(``Evaluation/eval_detection.py`` and ``eval_proposal.py``), written for
these tests from the algorithm's description; pandas is replaced by lists
with the same orders. Only the tests use it.
"""
import numpy as np


def _iou(seg, gts):
    gts = np.asarray(gts, dtype=np.float64).reshape(-1, 2)
    lo = np.maximum(seg[0], gts[:, 0])
    hi = np.minimum(seg[1], gts[:, 1])
    inter = (hi - lo).clip(0)
    union = (gts[:, 1] - gts[:, 0]) + (seg[1] - seg[0]) - inter
    with np.errstate(divide='ignore', invalid='ignore'):
        return inter.astype(float) / union


def _ap(prec, rec):
    mprec = np.hstack([[0], prec, [0]])
    mrec = np.hstack([[0], rec, [1]])
    for i in range(len(mprec) - 1)[::-1]:
        mprec[i] = max(mprec[i], mprec[i + 1])
    idx = np.where(mrec[1::] != mrec[0:-1])[0] + 1
    return np.sum((mrec[idx] - mrec[idx - 1]) * mprec[idx])


def reference_gt(database, subset):
    """[(video, start, end, label index)], class index, in file order."""
    rows, classes = [], {}
    for vid, v in database.items():
        if v['subset'] != subset:
            continue
        for ann in v['annotations']:
            c = classes.setdefault(ann['label'], len(classes))
            rows.append((vid, float(ann['segment'][0]),
                         float(ann['segment'][1]), c))
    return rows, classes


def reference_detection(database, results, subset, thresholds):
    gt_rows, classes = reference_gt(database, subset)
    preds = []
    for vid, dets in results.items():
        for d in dets:
            preds.append((vid, float(d['segment'][0]),
                          float(d['segment'][1]), classes[d['label']],
                          d['score']))
    thresholds = np.asarray(thresholds)
    ap = np.zeros((len(thresholds), len(classes)))
    for c in classes.values():
        gts = [r for r in gt_rows if r[3] == c]
        ps = [p for p in preds if p[3] == c]
        if not ps:
            continue
        scores = np.array([p[4] for p in ps], dtype=np.float64)
        ps = [ps[i] for i in scores.argsort()[::-1]]
        by_video = {}
        for i, g in enumerate(gts):
            by_video.setdefault(g[0], []).append(i)
        lock = -np.ones((len(thresholds), len(gts)))
        tp = np.zeros((len(thresholds), len(ps)))
        fp = np.zeros((len(thresholds), len(ps)))
        for idx, p in enumerate(ps):
            if p[0] not in by_video:
                fp[:, idx] = 1
                continue
            gidx = by_video[p[0]]
            tiou = _iou((p[1], p[2]), [(gts[i][1], gts[i][2])
                                       for i in gidx])
            sorted_idx = tiou.argsort()[::-1]
            for t, thr in enumerate(thresholds):
                for j in sorted_idx:
                    if tiou[j] < thr:
                        fp[t, idx] = 1
                        break
                    if lock[t, gidx[j]] >= 0:
                        continue
                    tp[t, idx] = 1
                    lock[t, gidx[j]] = idx
                    break
                if fp[t, idx] == 0 and tp[t, idx] == 0:
                    fp[t, idx] = 1
        tpc = np.cumsum(tp, axis=1).astype(np.float64)
        fpc = np.cumsum(fp, axis=1).astype(np.float64)
        rec = tpc / float(len(gts))
        prec = tpc / (tpc + fpc)
        for t in range(len(thresholds)):
            ap[t, c] = _ap(prec[t], rec[t])
    mean_ap = ap.mean(axis=1)
    return ap, mean_ap, mean_ap.mean()


def reference_proposals(database, results, subset, max_avg=100,
                        thresholds=np.linspace(0.5, 0.95, 10)):
    gt_rows, _ = reference_gt(database, subset)
    videos = list(dict.fromkeys(r[0] for r in gt_rows))
    props = [(vid, float(d['segment'][0]), float(d['segment'][1]),
              d['score']) for vid, dets in results.items() for d in dets]
    if not max_avg:
        max_avg = float(len(props)) / len(videos)
    ratio = max_avg * float(len(videos)) / len(props)
    score_lst, total = [], 0
    for vid in videos:
        g = np.array([(r[1], r[2]) for r in gt_rows if r[0] == vid])
        p = [x for x in props if x[0] == vid]
        if not p:
            score_lst.append(np.zeros((len(g), 1)))
            continue
        sc = np.array([x[3] for x in p], dtype=np.float64)
        segs = np.array([(x[1], x[2]) for x in p])[sc.argsort()[::-1]]
        nr = min(int(len(segs) * ratio), len(segs))
        total += nr
        segs = segs[:nr]
        tiou = np.empty((len(g), nr))
        for i in range(nr):
            tiou[:, i] = _iou(segs[i], g)
        score_lst.append(tiou)
    pcn = np.arange(1, 101) / 100.0 * (max_avg * float(len(videos)) /
                                       total)
    matches = np.empty((len(videos), len(pcn)))
    positives = np.empty(len(videos))
    recall = np.empty((len(thresholds), len(pcn)))
    for r, thr in enumerate(thresholds):
        for i, score in enumerate(score_lst):
            positives[i] = score.shape[0]
            ok = score >= thr
            npr = np.minimum((score.shape[1] * pcn).astype(int),
                             score.shape[1])
            for j, n in enumerate(npr):
                matches[i, j] = np.count_nonzero(ok[:, :n].sum(axis=1))
        recall[r, :] = matches.sum(axis=0) / positives.sum()
    avg = recall.mean(axis=0)
    per_video = pcn * (float(total) / len(videos))
    trap = getattr(np, 'trapezoid', None) or np.trapz
    auc = 100. * float(trap(avg, per_video)) / per_video[-1]
    return recall, avg, per_video, auc
