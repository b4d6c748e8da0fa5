# Copyright (c) rcl_mm contributors. All rights reserved.
import os.path as osp
from collections import Counter

import pytest

from rcl_mm.datasets import (DEMO_ANN_FILE, check_video_info,
                             load_json_strict, read_video_subsets,
                             select_demo_subset)
from rcl_mm.datasets.anet_annotations import dumps_by_video

# The real ActivityNet files the subset was made from (shipped; sources in
# data/annotations/README.md).
ANET_DIR = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'data',
    'annotations', 'activitynet')


@pytest.fixture(scope='module')
def demo():
    """The shipped demo annotation subset."""
    return load_json_strict(DEMO_ANN_FILE)


def test_counts_per_subset_and_class(demo):
    subsets = Counter(info['subset'] for info in demo.values())
    assert subsets == {'training': 240, 'validation': 80}
    per_class = Counter((info['annotations'][0]['label'], info['subset'])
                        for info in demo.values())
    assert len({label for label, _ in per_class}) == 20
    assert set(per_class.values()) == {12, 4}
    assert all(count == (12 if subset == 'training' else 4)
               for (_, subset), count in per_class.items())


def test_every_entry_is_valid(demo):
    for name, info in demo.items():
        assert name.startswith('v_')
        assert set(info) == {
            'duration_second', 'duration_frame', 'feature_frame',
            'annotations', 'subset'
        }
        assert check_video_info(name, info, tolerance=0.) == []
        assert len({a['label'] for a in info['annotations']}) == 1
        assert abs(info['feature_frame'] / info['duration_frame'] - 1) <= 0.1


def test_file_is_small_and_canonical(demo):
    assert osp.getsize(DEMO_ANN_FILE) < 120_000
    with open(DEMO_ANN_FILE, encoding='utf-8') as f:
        assert f.read() == dumps_by_video(demo)


def test_subset_is_reproducible(demo):
    subset = select_demo_subset(
        load_json_strict(osp.join(ANET_DIR, 'anet_anno_action.json')),
        read_video_subsets(osp.join(ANET_DIR, 'video_info_new.csv')))
    assert subset == demo


def video(label, segments, duration=100., feature_frame=3000):
    """A small mmaction2-layout entry."""
    return dict(
        duration_second=duration,
        duration_frame=3000,
        feature_frame=feature_frame,
        annotations=[dict(segment=s, label=label) for s in segments])


def test_selection_rules():
    annotations = {
        'v_a1': video('A', [[1, 5]]),
        'v_a2': video('A', [[1, 5], [6, 9]]),
        'v_a3': video('A', [[3, 3]]),  # zero-length
        'v_a4': video('A', [[1, 5]], feature_frame=2000),  # bad coverage
        'v_b1': video('B', [[1, 5]]),
        'v_b2': dict(video('B', [[1, 5]]),
                     annotations=[dict(segment=[1, 5], label='B'),
                                  dict(segment=[6, 8], label='C')]),
        'v_b3': video('B', [[1, 5], [1, 5]]),  # duplicate instance
        'v_b4': video('B', [[1, 101]]),  # beyond the duration
        'v_c1': video('C', [[1, 5]]),
        'v_va': video('A', [[1, 5]]),
        'v_vb': video('B', [[1, 5]]),
        'v_test': video('A', [[1, 5]]),
    }
    subsets = {name: 'training' for name in annotations}
    subsets.update(v_va='validation', v_vb='validation', v_test='testing')
    chosen = select_demo_subset(
        annotations, subsets, num_train=3, num_val=2, num_classes=2)
    # Classes A, B, C: even spacing picks indices 0 and 1 (A and B); one
    # video per class in turn.
    assert list(chosen) == ['v_a1', 'v_a2', 'v_b1', 'v_va', 'v_vb']
    assert chosen['v_b1']['subset'] == 'training'
    assert chosen['v_va']['subset'] == 'validation'

    with pytest.raises(ValueError, match='Only 3 eligible training videos'):
        select_demo_subset(annotations, subsets, num_train=4, num_val=2,
                           num_classes=2)
    with pytest.raises(ValueError, match='Asked for 4 classes; only 3'):
        select_demo_subset(annotations, subsets, num_classes=4)


def test_read_video_subsets(tmp_path):
    path = tmp_path / 'info.csv'
    path.write_text('video,numFrame,subset\nv_a,10,training\n'
                    'v_b,20,validation\n')
    assert read_video_subsets(str(path)) == {
        'v_a': 'training',
        'v_b': 'validation'
    }
    path.write_text('video,numFrame\nv_a,10\n')
    with pytest.raises(ValueError, match=r"missing column\(s\) \['subset'\]"):
        read_video_subsets(str(path))
