# Copyright (c) rcl_mm contributors. All rights reserved.
"""Shared by the evaluation tests: real-data paths, perturbed results."""
import os.path as osp

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# The real annotation files that ship with the repository (their sources:
# data/annotations/README.md).
DATA = osp.join(ROOT, 'data', 'annotations')
ANET_GT = osp.join(DATA, 'activitynet', 'activity_net_v1-3_gt.json')
THUMOS_GT = osp.join(DATA, 'thumos14', 'thumos_gt.json')
THUMOS_UNET = osp.join(ROOT, 'data', 'demo_thumos', 'annotations',
                       'uNet_test.npy')


def perturbed_results(database, subset, num_videos, per_video, seed,
                      decimals=2):
    """Predictions around the real ground truth: jittered instances with
    right or wrong labels, random segments, rounded scores (ties)."""
    rng = np.random.default_rng(seed)
    labels = sorted({a['label'] for v in database.values()
                     if v['subset'] == subset for a in v['annotations']})
    results = {}
    for vid, v in database.items():
        if v['subset'] != subset or len(results) == num_videos:
            continue
        anns = v['annotations']
        dur = float(v.get('duration') or 200.0)
        dets = []
        for _ in range(per_video):
            if anns and rng.random() < 0.8:
                a = anns[rng.integers(len(anns))]
                s, e = (float(x) for x in a['segment'])
                length = max(e - s, 1.0)
                s += rng.normal(0, 0.15) * length
                e += rng.normal(0, 0.15) * length
                lab = a['label'] if rng.random() < 0.8 else labels[
                    rng.integers(len(labels))]
            else:
                s, e = sorted(rng.uniform(0, dur, 2))
                lab = labels[rng.integers(len(labels))]
            # Clipped to the video, then ordered: predictions are read
            # only with start <= end (a reversed one is refused).
            s, e = sorted((round(max(s, 0.0), 2), round(min(e, dur), 2)))
            dets.append({'label': lab,
                         'score': round(float(rng.random()), decimals),
                         'segment': [s, e]})
        results[vid] = dets
    return results
