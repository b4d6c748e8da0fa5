# Copyright (c) rcl_mm contributors. All rights reserved.
"""THUMOS14 windows, training rule, annotations and the windowed dataset."""
import csv
import json
import os.path as osp

import numpy as np
import pytest
from mmengine.registry import DefaultScope

from rcl_mm.datasets import (LoadWindowFeature, ThumosFeatureDataset,
                             load_thumos_annotations, training_window_mask,
                             window_ground_truth, window_starts)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ANN_DIR = osp.join(ROOT, 'data', 'demo_thumos', 'annotations')
# G-TAD's evaluation file (shipped; data/annotations/README.md).
THUMOS_GT = osp.join(ROOT, 'data', 'annotations', 'thumos14',
                     'thumos_gt.json')


def covered(num_snippets, size, stride):
    starts = window_starts(num_snippets, size, stride)
    hits = np.zeros(num_snippets, dtype=int)
    for s in starts:
        hits[s:s + size] += 1
    return starts, hits


@pytest.mark.parametrize('num, size, stride, expected', [
    (1, 256, 128, [0]),  # one snippet: a single padded window
    (100, 256, 128, [0]),  # shorter than one window
    (256, 256, 128, [0]),  # exactly one window
    (257, 256, 128, [0, 1]),  # one snippet more: end-aligned window
    (512, 256, 256, [0, 256]),  # exact multiple, no overlap
    (512, 256, 128, [0, 128, 256]),  # exact multiple with overlap
    (600, 256, 192, [0, 192, 344]),  # tail: window aligned to the end
    (1000, 128, 64, list(range(0, 873, 64)) + [872]),
])
def test_window_starts_cover_every_snippet(num, size, stride, expected):
    starts, hits = covered(num, size, stride)
    assert starts.tolist() == expected
    assert (hits >= 1).all()
    # Only a video shorter than a window has padding.
    if num >= size:
        assert (starts + size <= num).all()


def test_window_starts_long_video_and_errors():
    starts, hits = covered(43200, 256, 128)
    assert len(starts) == 337 and starts[-1] == 43200 - 256
    # Stride 128: each snippet in two windows, the end-aligned tail in
    # three.
    assert hits.min() == 1 and hits.max() == 3
    assert (hits[256:42944] == 2).all()
    with pytest.raises(ValueError, match='stride'):
        window_starts(10, 8, 9)
    with pytest.raises(ValueError, match='num_snippets'):
        window_starts(0, 8, 4)


def test_training_window_rule_hand_cases():
    starts = np.array([0, 100, 200])
    # Snippets: A [90, 110] (20 long), B [150, 160], C [295, 305].
    segments = np.array([[90., 110.], [150., 160.], [295., 305.]])
    # Window [0, 100): A 10/20 inside; [100, 200): A 10/20, B all;
    # [200, 300): C 5/10.
    mask = training_window_mask(starts, segments, 100, 0.9)
    assert mask.tolist() == [False, True, False]
    # 0.5 keeps the windows holding half of A or C.
    assert training_window_mask(starts, segments, 100,
                                0.5).tolist() == [True, True, True]
    # 18 of 20 inside is exactly 0.9: kept.
    assert training_window_mask(np.array([0]), np.array([[82., 102.]]),
                                100, 0.9).tolist() == [True]
    assert training_window_mask(np.array([0]), np.array([[82.5, 102.5]]),
                                100, 0.9).tolist() == [False]
    # Ground truth of window [100, 200): A clipped, B whole; C outside.
    gt = window_ground_truth(100, segments, 100)
    np.testing.assert_allclose(gt, [[0., 0.1], [0.5, 0.6]])
    assert gt.dtype == np.float32


def test_real_annotations_ambiguous_and_labels():
    test, ambiguous = load_thumos_annotations(
        osp.join(ANN_DIR, 'test_Annotation.csv'))
    val, val_ambiguous = load_thumos_annotations(
        osp.join(ANN_DIR, 'val_Annotation.csv'))
    assert sum(len(a) for a in ambiguous.values()) == 99
    assert sum(len(a) for a in val_ambiguous.values()) == 89
    assert sum(len(a) for a in test.values()) == 3358
    assert sum(len(a) for a in val.values()) == 3007
    # 213 test videos; one has only ambiguous instances.
    assert len(test) == 213
    assert [v for v, a in test.items() if not a] == ['video_test_0001292']
    assert ambiguous['video_test_0000278'][0] == dict(
        segment=[0.0, 1.4], label='Ambiguous')
    with open(osp.join(ANN_DIR, 'thumos14_action_label_mapping.json')) as f:
        classes = json.load(f)
    labels = {a['label'] for v in (test, val) for x in v.values() for a in x}
    assert labels == set(classes)


def test_csv_minus_ambiguous_and_exclusions_is_the_evaluation_file():
    test, _ = load_thumos_annotations(
        osp.join(ANN_DIR, 'test_Annotation.csv'))
    gt, _ = load_thumos_annotations(THUMOS_GT, subset='test')
    kept = {v: a for v, a in test.items() if a and v not in (
        'video_test_0000270', 'video_test_0001496')}
    def key(instances):
        return sorted((a['segment'], a['label']) for a in instances)

    assert sorted(kept) == sorted(gt)
    assert all(key(kept[v]) == key(gt[v]) for v in gt)
    assert sum(len(a) for a in gt.values()) == 3311


def test_annotation_errors_name_file_and_row(tmp_path):
    path = tmp_path / 'bad.csv'
    path.write_text('video,type,type_idx,start,end\n'
                    'video_test_0000001,Diving,26,5.0,4.0\n'
                    'video_test_0000001,Dancing,1,1.0,2.0\n')
    with pytest.raises(ValueError) as error:
        load_thumos_annotations(str(path), class_names=['Diving'])
    assert 'row 2 (video video_test_0000001)' in str(error.value)
    assert 'start < end' in str(error.value)
    assert "row 3" in str(error.value) and "'Dancing'" in str(error.value)
    missing = tmp_path / 'cols.csv'
    missing.write_text('video,label,start,end\n')
    with pytest.raises(ValueError, match='missing column'):
        load_thumos_annotations(str(missing))


@pytest.fixture
def tiny_thumos(tmp_path):
    """Two videos: 300 snippets (1/6 s each) and 40 snippets at 25 fps."""
    rows = [('vid_a', 'Diving', '26', '10.0', '15.0'),
            ('vid_a', 'Ambiguous', '0', '20.0', '21.0'),
            ('vid_a', 'Diving', '26', '40.0', '45.0'),
            ('vid_b', 'HighJump', '40', '2.0', '5.0')]
    ann = tmp_path / 'ann.csv'
    with open(ann, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['video', 'type', 'type_idx', 'start', 'end'])
        writer.writerows(rows)
    feats = tmp_path / 'feats'
    feats.mkdir()
    a = np.arange(300 * 4, dtype=np.float32).reshape(300, 4)
    b = -np.arange(40 * 4, dtype=np.float32).reshape(40, 4)
    np.save(feats / 'vid_a.npy', a)
    np.save(feats / 'vid_b.npy', b)
    info = tmp_path / 'info.json'
    info.write_text(json.dumps({'vid_b': {'fps': 25.0}}))
    return str(ann), str(feats), str(info), a, b


def build(ann, feats, info, test_mode, **kwargs):
    # A scoped build: a global default scope would leak into later tests.
    with DefaultScope.overwrite_default_scope('rcl_mm'):
        return ThumosFeatureDataset(
            ann, [dict(type='LoadWindowFeature', feat_dim=4)],
            data_prefix=dict(video=feats), test_mode=test_mode,
            video_info_file=info, window_size=128, window_overlap=64,
            **kwargs)


def test_dataset_test_windows_cover_all_snippets(tiny_thumos):
    ann, feats, info, a, b = tiny_thumos
    dataset = build(ann, feats, info, test_mode=True)
    items = [dataset[i] for i in range(len(dataset))]
    assert [(d['video_name'], d['window_start'], d['valid_length'])
            for d in items] == [('vid_a', 0, 128), ('vid_a', 64, 128),
                                ('vid_a', 128, 128), ('vid_a', 172, 128),
                                ('vid_b', 0, 40)]
    a_item = items[3]
    assert a_item['snippet_seconds'] == pytest.approx(5 / 30)
    assert a_item['num_snippets'] == 300
    assert a_item['duration_second'] == pytest.approx(50.0)
    np.testing.assert_array_equal(a_item['raw_feature'], a[172:300].T)
    # Ambiguous instance not in the ground truth.
    assert [x['label'] for x in a_item['annotations']] == ['Diving'] * 2
    # vid_b: 25 fps from the info file, zero padding after 40 snippets.
    b_item = items[4]
    assert b_item['snippet_seconds'] == pytest.approx(0.2)
    assert b_item['raw_feature'].shape == (4, 128)
    np.testing.assert_array_equal(b_item['raw_feature'][:, :40], b.T)
    assert not b_item['raw_feature'][:, 40:].any()
    # HighJump 2..5 s = snippets 10..25 of a 128-snippet window.
    np.testing.assert_allclose(b_item['gt_bbox'], [[10 / 128, 25 / 128]],
                               rtol=1e-6)


def test_dataset_training_windows_follow_the_rule(tiny_thumos):
    ann, feats, info, _, _ = tiny_thumos
    dataset = build(ann, feats, info, test_mode=False)
    # vid_a instances: snippets [60, 90] and [240, 270] (Ambiguous left
    # out). Windows 0, 64, 128, 172: [60, 90] wholly in 0 only (64 holds
    # 26/30 < 0.9); [240, 270] in 172 only.
    starts = [(d['video_name'], d['window_start'])
              for d in map(dataset.get_data_info, range(len(dataset)))]
    assert starts == [('vid_a', 0), ('vid_a', 172), ('vid_b', 0)]
    np.testing.assert_allclose(dataset.get_data_info(0)['gt_bbox'],
                               [[60 / 128, 90 / 128]], rtol=1e-6)
    np.testing.assert_allclose(dataset.get_data_info(1)['gt_bbox'],
                               [[68 / 128, 98 / 128]], rtol=1e-6)


def test_window_loader_checks_length(tiny_thumos):
    ann, feats, info, _, _ = tiny_thumos
    loader = LoadWindowFeature(feat_dim=4)
    with pytest.raises(ValueError, match='has 300 snippets'):
        loader(dict(feature_path=osp.join(feats, 'vid_a.npy'),
                    video_name='vid_a', window_start=0, window_size=128,
                    num_snippets=299))
    with pytest.raises(ValueError, match='feat_dim=3'):
        LoadWindowFeature(feat_dim=3)(
            dict(feature_path=osp.join(feats, 'vid_a.npy'),
                 window_start=0, window_size=128, num_snippets=300))


def test_csv_features_give_the_same_windows(tiny_thumos, tmp_path):
    ann, feats, info, a, b = tiny_thumos
    csv_dir = tmp_path / 'csv'
    csv_dir.mkdir()
    for name, array in (('vid_a', a), ('vid_b', b)):
        np.savetxt(csv_dir / f'{name}.csv', array, delimiter=',',
                   header='f0,f1,f2,f3', comments='', fmt='%.1f')
    npy = build(ann, feats, info, test_mode=True)
    csv_set = build(ann, str(csv_dir), info, test_mode=True,
                    feature_ext='.csv')
    assert len(csv_set) == len(npy) == 5
    for i in range(5):
        np.testing.assert_array_equal(csv_set[i]['raw_feature'],
                                      npy[i]['raw_feature'])
