# Copyright (c) rcl_mm contributors. All rights reserved.
"""Agreement with mmaction2's port of the official code on a fixture in
mmaction2's layout (``v_`` names, no subsets). The port breaks score ties
by file order (a stable sort) where the official code uses
``argsort()[::-1]``, so the fixture has distinct scores."""
import json

import numpy as np
from mmaction.evaluation.functional import ActivityNetLocalization

from rcl_mm.evaluation.functional import (detection_map, load_ground_truth,
                                          load_predictions)


def fixture(tmp_path, seed=0):
    rng = np.random.default_rng(seed)
    gt, results = {}, {}
    scores = rng.permutation(2000) / 2000 + 1e-4  # distinct
    k = 0
    for v in range(25):
        anns = []
        for _ in range(rng.integers(1, 4)):
            s = float(rng.integers(0, 150)) / 2
            anns.append({'segment': [s, s + float(rng.integers(2, 60)) / 2],
                         'label': 'abcd'[rng.integers(4)]})
        gt[f'v_vid{v:02d}'] = {'duration_second': 120.0,
                               'annotations': anns}
        dets = []
        for _ in range(30):
            a = anns[rng.integers(len(anns))]
            s, e = a['segment']
            # Ordered: a reversed segment is refused when read.
            dets.append({'segment': sorted([s + float(rng.normal(0, 2)),
                                            e + float(rng.normal(0, 2))]),
                         'score': float(scores[k]),
                         'label': a['label'] if rng.random() < .7 else
                         'abcd'[rng.integers(4)]})
            k += 1
        results[f'vid{v:02d}'] = dets
    gt_file, pred_file = tmp_path / 'gt.json', tmp_path / 'pred.json'
    gt_file.write_text(json.dumps(gt))
    pred_file.write_text(json.dumps({'version': 'VERSION 1.3',
                                     'results': results,
                                     'external_data': {}}))
    return str(gt_file), str(pred_file)


def test_detection_agrees_with_mmaction2(tmp_path):
    gt_file, pred_file = fixture(tmp_path)
    thresholds = np.linspace(0.5, 0.95, 10)
    theirs = ActivityNetLocalization(gt_file, pred_file,
                                     tiou_thresholds=thresholds)
    mean_ap, average = theirs.evaluate()
    ours = detection_map(load_ground_truth(gt_file),
                         load_predictions(pred_file), thresholds)
    # Same classes in the same order, same AP per class and threshold.
    assert list(theirs.activity_index) == load_ground_truth(
        gt_file).class_names
    np.testing.assert_allclose(ours['ap'], theirs.ap, rtol=0, atol=1e-15)
    np.testing.assert_allclose(ours['mAP'], mean_ap, rtol=0, atol=1e-15)
    assert abs(ours['average_mAP'] - average) < 1e-15
    assert 0.2 < average < 0.9
