# Copyright (c) rcl_mm contributors. All rights reserved.
"""The ``eval`` part: a seeded prediction file around the real ActivityNet
validation ground truth, evaluated by ``tools/analysis/eval_detection.py``
and by mmaction2's ``ActivityNetLocalization``, each in its own process."""
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time

import numpy as np

from .config import ROOT


def synthetic_predictions(database, num_videos, per_video, seed=0):
    """Labelled predictions around the real validation ground truth.

    Of each video's ``per_video`` predictions, 80% jitter one of its
    instances (start and end moved by N(0, 0.15) x length, swapped where
    they cross; the right label 80% of the time), the rest are random
    segments with random labels; scores have 6 decimals.

    Args:
        database (dict): The official ActivityNet ``database``.
        num_videos (int | None): First N validation videos (all if None).
        per_video (int): Predictions per video.
        seed (int): Seed of the generator.

    Returns:
        dict: ``{video_id: [{'label', 'score', 'segment'}, ...]}``.
    """
    rng = np.random.default_rng(seed)
    videos = [(vid, v) for vid, v in database.items()
              if v['subset'] == 'validation'][:num_videos]
    labels = sorted({a['label'] for _, v in videos
                     for a in v['annotations']})
    results = {}
    for vid, video in videos:
        anns = video['annotations']
        duration = float(video.get('duration') or 200.0)
        # Everything of a video drawn at once (vectorised per video).
        jitter = rng.random(per_video) < (0.8 if anns else 0.0)
        ann_idx = rng.integers(max(len(anns), 1), size=per_video)
        seg = np.array([a['segment'] for a in anns], dtype=float).reshape(
            -1, 2)
        noise = rng.normal(0, 0.15, (per_video, 2))
        rand = np.sort(rng.uniform(0, duration, (per_video, 2)), axis=1)
        keep_label = rng.random(per_video) < 0.8
        other = rng.integers(len(labels), size=per_video)
        scores = np.round(rng.random(per_video), 6)
        dets = []
        for i in range(per_video):
            if jitter[i]:
                s, e = seg[ann_idx[i]]
                length = max(e - s, 1.0)
                s, e = s + noise[i, 0] * length, e + noise[i, 1] * length
                label = (anns[ann_idx[i]]['label']
                         if keep_label[i] else labels[other[i]])
            else:
                s, e = rand[i]
                label = labels[other[i]]
            # Inside the video; jitter may cross the ends, and the readers
            # refuse reversed segments.
            s, e = sorted(min(max(x, 0.0), duration) for x in (s, e))
            dets.append(dict(label=label, score=float(scores[i]),
                             segment=[round(s, 2), round(e, 2)]))
        results[vid] = dets
    return results


def mmaction2_layout(database, video_ids):
    """The ground truth as mmaction2's evaluator reads it."""
    return {
        f'v_{vid}': dict(duration_second=database[vid]['duration'],
                         annotations=database[vid]['annotations'])
        for vid in video_ids
    }


# Run as its own interpreter so that its imports (torch through mmcv and
# mmengine) are timed as a user of mmaction2's evaluator pays them.
MMACTION2_EVAL = """
import json, sys, time
tic = time.perf_counter()
import numpy as np
from mmaction.evaluation.functional import ActivityNetLocalization
import_s = time.perf_counter() - tic
tic = time.perf_counter()
_, average_map = ActivityNetLocalization(
    sys.argv[1], sys.argv[2],
    tiou_thresholds=np.linspace(0.5, 0.95, 10)).evaluate()
print('RESULT ' + json.dumps(dict(
    import_s=import_s, evaluate_s=time.perf_counter() - tic,
    average_mAP=float(average_map))))
"""


def run_eval(args, scratch):
    """Write the prediction file; time both evaluators in subprocesses."""
    if not osp.isfile(args.gt):
        print(f'eval: skipped, no ground truth at {args.gt} (give the '
              'official activity_net_v1-3_gt.json with --gt)')
        return dict(skipped=f'no ground truth at {args.gt}')
    with open(args.gt) as f:
        database = json.load(f)['database']
    preds = synthetic_predictions(database, args.eval_videos,
                                  args.eval_per_video)
    pred_file = osp.join(scratch, 'pred.json')
    with open(pred_file, 'w') as f:
        json.dump(dict(version='VERSION 1.3', results=preds,
                       external_data={}), f)
    with open(osp.join(scratch, 'gt_mmaction2.json'), 'w') as f:
        json.dump(mmaction2_layout(database, preds), f)
    gt_file = args.gt
    if args.eval_videos:
        # Only the videos predicted: otherwise the missed ones count.
        gt_file = osp.join(scratch, 'gt_subset.json')
        with open(gt_file, 'w') as f:
            json.dump(dict(database={v: database[v] for v in preds}), f)
    result = dict(videos=len(preds),
                  predictions=sum(len(p) for p in preds.values()),
                  file_bytes=os.path.getsize(pred_file))
    times = []
    metrics_file = osp.join(scratch, 'metrics.json')
    for _ in range(args.eval_repeats):
        cmd = [sys.executable,
               osp.join(ROOT, 'tools', 'analysis', 'eval_detection.py'),
               gt_file, pred_file, '--out', metrics_file]
        tic = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        times.append(time.perf_counter() - tic)
        if proc.returncode:
            sys.exit(f'eval_detection.py failed:\n{proc.stderr}')
    with open(metrics_file) as f:
        ours = json.load(f)
    result.update(ours_wall_s=statistics.median(times), ours_runs=times,
                  ours_average_mAP=ours.get('average_mAP'))
    if 'mmaction2' in args.models:
        print('running mmaction2 ActivityNetLocalization ...', flush=True)
        cmd = [sys.executable, '-c', MMACTION2_EVAL,
               osp.join(scratch, 'gt_mmaction2.json'), pred_file]
        tic = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - tic
        lines = [ln for ln in proc.stdout.splitlines()
                 if ln.startswith('RESULT ')]
        if proc.returncode or not lines:
            sys.exit('mmaction2 evaluation failed:\n' + proc.stderr[-4000:])
        mm = json.loads(lines[-1][len('RESULT '):])
        result.update(mmaction2_wall_s=wall,
                      mmaction2_import_s=mm['import_s'],
                      mmaction2_evaluate_s=mm['evaluate_s'],
                      mmaction2_average_mAP=mm['average_mAP'])
    return result
