# Copyright (c) rcl_mm contributors. All rights reserved.
"""THUMOS14: UntrimmedNet fusion columns and the windowed TADMetric."""
import csv
import json
import math
import os.path as osp
import random

import numpy as np
import pytest
import torch

from rcl_mm.evaluation.functional import (THUMOS14_UCF101_ID,
                                          fuse_class_scores,
                                          load_class_scores)
from rcl_mm.evaluation.metrics import TADMetric

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ANN_DIR = osp.join(ROOT, 'data', 'demo_thumos', 'annotations')
UNET = osp.join(ANN_DIR, 'uNet_test.npy')


def test_ucf101_ids_match_the_annotation_files_and_label_mapping():
    with open(osp.join(ANN_DIR, 'thumos14_action_label_mapping.json')) as f:
        classes = json.load(f)
    assert sorted(THUMOS14_UCF101_ID) == sorted(classes)
    assert len(classes) == 20
    # Every non-ambiguous row's type_idx is the class's UCF101 id.
    seen = {}
    for name in ('val_Annotation.csv', 'test_Annotation.csv'):
        with open(osp.join(ANN_DIR, name), newline='') as f:
            for row in csv.DictReader(f):
                if row['type'] != 'Ambiguous':
                    seen.setdefault(row['type'], set()).add(
                        int(row['type_idx']))
    assert seen == {c: {i} for c, i in THUMOS14_UCF101_ID.items()}


def test_fusion_reads_the_right_unet_columns():
    table = np.load(UNET)
    assert table.shape == (1574, 101)
    scores = load_class_scores(UNET, 'thumos_npy', video_ids=[
        'video_test_0000004', 'video_test_0001558'])
    row4 = scores('video_test_0000004')
    # By hand: row 4 - 1 = 3; BaseballPitch is UCF101 class 7 (column 6),
    # CricketBowling 23 (column 22), VolleyballSpiking 97 (column 96).
    assert row4[scores.class_names.index('BaseballPitch')] == table[3, 6]
    assert row4[scores.class_names.index('CricketBowling')] == table[3, 22]
    assert row4[scores.class_names.index('VolleyballSpiking')] == \
        table[3, 96]
    last = scores('video_test_0001558')
    assert last.tolist() == table[1557, [THUMOS14_UCF101_ID[c] - 1 for c in
                                         scores.class_names]].tolist()
    # video_test_0000004 is a cricket video: UntrimmedNet's two best
    # THUMOS classes are CricketBowling (its ground truth) and CricketShot.
    segs, fused, labels = fuse_class_scores(
        np.array([[0.2, 1.1]]), np.array([0.5]), row4, top_k=2)
    assert [scores.class_names[i] for i in labels] == [
        'CricketBowling', 'CricketShot']
    assert fused.tolist() == [0.5 * table[3, 22], 0.5 * table[3, 23]]


def window(name, start, dets, annotations):
    dets = np.asarray(dets, dtype=np.float64).reshape(-1, 3)
    return dict(
        video_name=name, window_start=start, duration_second=50.0,
        annotations=annotations,
        pred_instances=dict(segments=torch.from_numpy(dets[:, :2]),
                            scores=torch.from_numpy(dets[:, 2])))


GT4 = [dict(segment=[0.2, 1.1], label='CricketBowling'),
       dict(segment=[11.4, 12.2], label='CricketBowling')]
GT7 = [dict(segment=[5.0, 9.0], label='Diving')]


def windows():
    return [
        window('video_test_0000004', 0, [[0.2, 1.1, 0.9], [30., 31., 0.1]],
               GT4),
        # The same detection again from the overlapping window.
        window('video_test_0000004', 128, [[0.2, 1.1, 0.8],
                                           [11.4, 12.2, 0.6]], GT4),
        window('video_test_0000007', 0, [[5.0, 9.0, 0.7]], GT7),
    ]


def run(metric, samples):
    for s in samples:
        metric.process(None, [s])
    return metric.compute_metrics(metric.results)


def test_windowed_metric_merges_fuses_and_scores(tmp_path):
    out = str(tmp_path / 'results.json')
    metric = TADMetric(
        metric='detection', dataset='thumos14',
        class_scores=dict(file=UNET, format='thumos_npy', top_k=2),
        merge_windows=dict(soft_nms_alpha=0.3, top_k=200), dump=out)
    values = run(metric, windows())
    assert list(values) == ['mAP@0.30', 'mAP@0.40', 'mAP@0.50',
                            'mAP@0.60', 'mAP@0.70', 'average_mAP']
    with open(out) as f:
        results = json.load(f)['results']
    table = np.load(UNET)
    got = results['video_test_0000004']
    # 4 merged proposals x top-2 classes; the duplicate decayed by
    # exp(-1 / 0.3) by Soft-NMS after the merge.
    assert len(got) == 8
    bowling = sorted((d['score'], d['segment']) for d in got
                     if d['label'] == 'CricketBowling')
    c = float(table[3, 22])
    expected = sorted([(0.9 * c, [0.2, 1.1]), (0.6 * c, [11.4, 12.2]),
                       (0.1 * c, [30., 31.]),
                       (0.8 * math.exp(-1 / 0.3) * c, [0.2, 1.1])])
    for (score, seg), (e_score, e_seg) in zip(bowling, expected):
        assert score == pytest.approx(e_score, rel=1e-6)
        assert seg == pytest.approx(e_seg)
    # Both CricketBowling instances are found first: AP 1. Diving of
    # video 7: its top-2 UntrimmedNet classes decide.
    top7 = np.argsort(-table[6, [THUMOS14_UCF101_ID[k] - 1
                                 for k in THUMOS14_UCF101_ID]])[:2]
    names = list(THUMOS14_UCF101_ID)
    diving_ap = 1.0 if 'Diving' in [names[i] for i in top7] else 0.0
    for key in ('mAP@0.30', 'mAP@0.50', 'mAP@0.70'):
        assert values[key] == pytest.approx((1.0 + diving_ap) / 2)


def test_windowed_metric_ignores_order_and_repeated_windows(tmp_path):
    kwargs = dict(metric='detection', dataset='thumos14',
                  class_scores=dict(file=UNET, format='thumos_npy'),
                  merge_windows=dict(top_k=3))
    reference = run(TADMetric(dump=str(tmp_path / 'a.json'), **kwargs),
                    windows())
    shuffled = windows() + [windows()[1]]  # a sampler's padding repeat
    random.Random(0).shuffle(shuffled)
    again = run(TADMetric(dump=str(tmp_path / 'b.json'), **kwargs),
                shuffled)
    assert again == reference
    with open(tmp_path / 'a.json') as a, open(tmp_path / 'b.json') as b:
        assert json.load(a) == json.load(b)


def test_windows_without_merge_settings_are_an_error():
    with pytest.raises(ValueError, match='merge_windows'):
        run(TADMetric(metric='detection', dataset='thumos14'), windows())
    with pytest.raises(KeyError, match='unknown merge_windows'):
        TADMetric(merge_windows=dict(alpha=0.3))
