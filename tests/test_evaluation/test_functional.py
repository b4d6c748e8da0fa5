# Copyright (c) rcl_mm contributors. All rights reserved.
"""Evaluation functions: hand-computed cases and the official algorithm."""
import json

import numpy as np
import pytest
from eval_helpers import THUMOS_GT, perturbed_results
from official_reference import reference_detection, reference_proposals

from rcl_mm.evaluation.functional import (
    ar_at_an, average_recall_vs_proposals, detection_map, interpolated_ap,
    load_ground_truth, load_predictions, predictions_from_results,
    segment_iou)


def database(videos, subset='validation'):
    return {vid: {'subset': subset, 'duration': 100.0,
                  'annotations': [{'segment': list(s), 'label': lab}
                                  for s, lab in anns]}
            for vid, anns in videos.items()}


def results(videos):
    return {vid: [{'segment': list(s), 'score': sc, 'label': lab}
                  for s, sc, lab in dets] for vid, dets in videos.items()}


def evaluate(db, res, thresholds=(0.5, )):
    gt = load_ground_truth({'database': db}, 'validation')
    return detection_map(gt, predictions_from_results({'results': res}),
                         thresholds)


def test_segment_iou_hand_computed():
    iou = segment_iou([[0, 10], [3, 3]],
                      [[5, 15], [0, 10], [20, 30], [3, 3], [2, 4]])
    np.testing.assert_allclose(iou[0, :3], [5 / 15, 1, 0])
    assert iou[0, 3] == 0 and iou[0, 4] == 0.2
    # Two zero-length segments: 0 / 0, as the official code.
    assert np.isnan(iou[1, 3]) and iou[1, 4] == 0


def test_interpolated_ap_hand_computed():
    # Ranks: TP, FP, TP with 2 positives: the envelope lifts rank 2 to 2/3.
    ap = interpolated_ap(np.array([1, .5, 2 / 3]), np.array([.5, .5, 1]))
    assert ap == pytest.approx(.5 * 1 + .5 * 2 / 3, abs=1e-15)
    assert interpolated_ap(np.array([0., 0.]), np.array([0., 0.])) == 0
    # Half the positives found at precision 1, the rest never.
    assert interpolated_ap(np.array([1.]), np.array([.5])) == .5


def test_detection_map_hand_computed():
    db = database({'a': [((0, 10), 'A'), ((20, 30), 'A')],
                   'b': [((0, 50), 'B')]})
    res = results({'a': [((0, 10), .9, 'A'), ((0, 9), .8, 'A'),
                         ((20, 30), .7, 'A')],
                   'b': [((0, 40), .6, 'B')]})
    out = evaluate(db, res, (0.5, 0.85))
    # A: TP, duplicate (FP), TP -> 5/6 at both thresholds.
    np.testing.assert_allclose(out['ap'][:, 0], [5 / 6, 5 / 6])
    # B: IoU 0.8 -> TP at 0.5, FP at 0.85.
    np.testing.assert_allclose(out['ap'][:, 1], [1, 0])
    np.testing.assert_allclose(out['mAP'], [(5 / 6 + 1) / 2, 5 / 12])
    assert out['average_mAP'] == pytest.approx((11 / 12 + 5 / 12) / 2)


def test_outside_videos_duplicates_and_degenerate_ground_truth():
    db = database({'a': [((0, 10), 'A'), ((0, 10), 'A'), ((5, 5), 'A')]})
    res = results({
        'a': [((0, 10), .9, 'A'), ((0, 10), .8, 'A'), ((5, 5), .5, 'A')],
        # Not in the subset: a false positive, ranked second.
        'zzz': [((0, 10), .85, 'A')]})
    out = evaluate(db, res)
    # TP (dup 1), FP (outside), TP (dup 2), TP (NaN IoU of two points).
    prec = np.array([1, 1 / 2, 2 / 3, 3 / 4])
    rec = np.array([1, 1, 2, 3]) / 3
    assert out['ap'][0, 0] == interpolated_ap(prec, rec)
    assert out['num_outside'] == 1
    assert out['tp'][:, 0].tolist() == [True, False, True, True]


def test_unknown_label_names_the_video():
    db = database({'a': [((0, 10), 'A')]})
    with pytest.raises(ValueError,
                       match="video 'a', detection 0 has label 'Z'"):
        evaluate(db, results({'a': [((0, 10), .9, 'Z')]}))


def random_case(seed, num_videos=30):
    rng = np.random.default_rng(seed)
    videos = {}
    for v in range(num_videos):
        anns = []
        for _ in range(rng.integers(1, 6)):
            s = float(rng.integers(0, 80))
            e = s + float(rng.integers(0, 20))  # some zero length
            anns.append(((s, e), 'ABC'[rng.integers(3)]))
        if rng.random() < .3:
            anns.append(anns[0])  # duplicate ground truth
        videos[f'v{v}'] = anns
    preds = {}
    for v in list(videos) + ['extra']:
        dets = []
        for _ in range(rng.integers(0, 40)):
            s = float(rng.integers(0, 90))
            e = s + float(rng.integers(0, 20))
            # Few distinct scores: many ties.
            dets.append(((s, e), float(rng.integers(0, 8)) / 8,
                         'ABC'[rng.integers(3)]))
        preds[v] = dets
    return database(videos), results(preds)


@pytest.mark.parametrize('seed', range(6))
def test_detection_equals_official_algorithm(seed):
    db, res = random_case(seed)
    thresholds = np.linspace(0.5, 0.95, 10)
    out = evaluate(db, res, thresholds)
    ap, mean_ap, average = reference_detection(db, res, 'validation',
                                               thresholds)
    np.testing.assert_array_equal(out['ap'], ap)
    np.testing.assert_array_equal(out['mAP'], mean_ap)
    assert out['average_mAP'] == average


@pytest.mark.parametrize('seed', range(4))
@pytest.mark.parametrize('max_avg', [100, 5, None])
def test_proposals_equal_official_algorithm(seed, max_avg):
    db, res = random_case(seed)
    gt = load_ground_truth({'database': db}, 'validation')
    out = average_recall_vs_proposals(
        gt, predictions_from_results({'results': res}), max_avg)
    recall, avg, per_video, auc = reference_proposals(
        db, res, 'validation', max_avg)
    np.testing.assert_array_equal(out['recall'], recall)
    np.testing.assert_array_equal(out['avg_recall'], avg)
    np.testing.assert_array_equal(out['proposals_per_video'], per_video)
    assert out['auc'] == auc


def test_ar_at_an_hand_computed():
    db = database({'a': [((0, 10), 'A')]})
    res = results({'a': [((20, 30), .9, 'A'), ((0, 10), .8, 'A')]})
    gt = load_ground_truth({'database': db}, 'validation')
    out = average_recall_vs_proposals(
        gt, predictions_from_results({'results': res}), 2)
    metrics = ar_at_an(out, (1, 2))
    # The best proposal misses, the second finds the instance.
    assert metrics['AR@1'] == 0 and metrics['AR@2'] == 1
    # Recall 1 only at AN = 2: one trapezoid of width 0.02 over AN 2.
    assert metrics['AUC'] == pytest.approx(100 * 0.01 / 2)
    with pytest.raises(ValueError, match='AR@3 is not on the AN axis'):
        ar_at_an(out, (3, ))


def test_real_activitynet_ground_truth(anet_database, tmp_path):
    res = perturbed_results(anet_database, 'validation', 80, 40, seed=1)
    thresholds = np.linspace(0.5, 0.95, 10)
    path = tmp_path / 'pred.json'
    path.write_text(json.dumps({'version': 'VERSION 1.3', 'results': res,
                                'external_data': {}}))
    gt = load_ground_truth({'database': anet_database}, 'validation')
    assert len(gt.video_ids) == 4926 and len(gt.class_names) == 200
    preds = load_predictions(str(path))
    out = detection_map(gt, preds, thresholds)
    ap, mean_ap, average = reference_detection(
        anet_database, res, 'validation', thresholds)
    np.testing.assert_array_equal(out['ap'], ap)
    # 80 of 4,926 videos predicted: recall, hence mAP, stays small.
    assert out['average_mAP'] == average and 0.001 < average < 0.05
    ar = average_recall_vs_proposals(gt, preds, 100)
    recall, avg, _, auc = reference_proposals(anet_database, res,
                                              'validation', 100)
    np.testing.assert_array_equal(ar['avg_recall'], avg)
    assert ar['auc'] == auc


def test_real_thumos_ground_truth_with_string_segments():
    with open(THUMOS_GT) as f:
        db = json.load(f)['database']
    gt = load_ground_truth(THUMOS_GT, 'test')
    assert len(gt.video_ids) == 210 and gt.num_instances == 3311
    assert len(gt.class_names) == 20  # G-TAD's file has no Ambiguous
    res = perturbed_results(db, 'test', 40, 60, seed=2, decimals=3)
    thresholds = [0.3, 0.4, 0.5, 0.6, 0.7]
    out = detection_map(gt, predictions_from_results({'results': res}),
                        thresholds)
    ap, mean_ap, average = reference_detection(db, res, 'test', thresholds)
    np.testing.assert_array_equal(out['ap'], ap)
    assert out['average_mAP'] == average


def test_mmaction2_layout_strips_the_prefix_only_where_present():
    gt = load_ground_truth({
        'v_abc': {'duration_second': 10., 'annotations': [
            {'segment': [1, 2], 'label': 'A'}]},
        'video_test_0000004': {'duration_second': 20., 'annotations': []}})
    assert gt.video_ids == ['abc', 'video_test_0000004']
    np.testing.assert_array_equal(gt.durations, [10., 20.])
    with pytest.raises(ValueError, match="video 'x' has no \"annotations\""):
        load_ground_truth({'x': {'duration_second': 1.}})
    with pytest.raises(ValueError, match="no video of subset 'testing'"):
        load_ground_truth({'database': database({'a': []})}, 'testing')
