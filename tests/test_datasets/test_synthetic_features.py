# Copyright (c) rcl_mm contributors. All rights reserved.
import json
import os

import numpy as np
import pytest
from mmaction.datasets.transforms import LoadLocalizationFeature

from rcl_mm.datasets import (DEMO_ANN_FILE, SignalConfig,
                             corrected_duration, direction,
                             load_json_strict, synthesize_features,
                             synthesize_video, synthetic)

TRAIN = ['v_train_a', 'v_train_b', 'v_train_c']
VAL = ['v_val_a', 'v_val_b']


def read_tree(root):
    """{relative path: bytes} of every file under ``root``."""
    files = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, 'rb') as f:
                files[os.path.relpath(path, root)] = f.read()
    return files


def test_layout_shapes_and_headers(tiny_features):
    files = read_tree(tiny_features)
    expected = {f'csv_mean_100/{n}.csv' for n in TRAIN + VAL}
    expected |= {f'npy/{n}.npy' for n in TRAIN + VAL}
    expected |= {
        'anet_anno_train.json', 'anet_anno_val.json', 'anet_gt_val.json',
        'synthesis_meta.json'
    }
    assert set(files) == expected

    lines = files['csv_mean_100/v_train_a.csv'].decode().splitlines()
    assert len(lines) == 101
    assert lines[0].split(',') == [f'f{i}' for i in range(400)]
    assert all(len(line.split(',')) == 400 for line in lines[1:])
    feature = np.load(tiny_features / 'npy' / 'v_train_a.npy')
    assert feature.shape == (100, 400)
    assert feature.dtype == np.float32


def test_annotation_files(tiny_features, tiny_annotations):
    train = json.loads((tiny_features / 'anet_anno_train.json').read_text())
    val = json.loads((tiny_features / 'anet_anno_val.json').read_text())
    assert sorted(train) == TRAIN
    assert sorted(val) == VAL
    # mmaction2's layout exactly: the subset key is not copied.
    expected = {
        k: v
        for k, v in tiny_annotations['v_train_b'].items() if k != 'subset'
    }
    assert train['v_train_b'] == expected

    gt = json.loads((tiny_features / 'anet_gt_val.json').read_text())
    assert gt['version'] == 'VERSION 1.3'
    assert gt['taxonomy'] == []
    assert sorted(gt['database']) == ['val_a', 'val_b']
    assert gt['database']['val_b'] == dict(
        subset='validation',
        duration=80.0,
        annotations=[
            dict(segment=[8.0, 16.0], label='Archery'),
            dict(segment=[40.0, 72.0], label='Ballet')
        ])


def test_csv_equals_npy_and_mmaction_reader(tiny_features):
    for name in TRAIN + VAL:
        npy = np.load(tiny_features / 'npy' / f'{name}.npy')
        results = LoadLocalizationFeature().transform(
            dict(feature_path=str(tiny_features / 'csv_mean_100' /
                                  f'{name}.csv')))
        np.testing.assert_array_equal(results['raw_feature'], npy.T)
        assert results['raw_feature'].dtype == np.float32


def test_same_seed_same_bytes_other_seed_differs(tmp_path, tiny_annotations,
                                                 tiny_features):
    synthesize_features(tiny_annotations, str(tmp_path / 'again'), seed=0)
    assert read_tree(tmp_path / 'again') == read_tree(tiny_features)

    synthesize_features(
        tiny_annotations, str(tmp_path / 'other'), seed=1, formats=('npy', ))
    for name in TRAIN + VAL:
        first = np.load(tiny_features / 'npy' / f'{name}.npy')
        other = np.load(tmp_path / 'other' / 'npy' / f'{name}.npy')
        assert np.abs(first - other).mean() > 0.5


def test_video_features_do_not_depend_on_the_other_videos(
        tmp_path, tiny_annotations, tiny_features):
    summary = synthesize_features(
        tiny_annotations, str(tmp_path), seed=0, num_train=1, num_val=1)
    assert (summary['num_train'], summary['num_val']) == (1, 1)
    assert sorted(os.listdir(tmp_path / 'npy')) == [
        'v_train_a.npy', 'v_val_a.npy'
    ]
    for name in ('v_train_a', 'v_val_a'):
        assert ((tmp_path / 'npy' / f'{name}.npy').read_bytes() == (
            tiny_features / 'npy' / f'{name}.npy').read_bytes())


def test_meta_records_settings(tiny_features):
    meta = json.loads((tiny_features / 'synthesis_meta.json').read_text())
    assert meta['seed'] == 0
    assert meta['signal']['snr_range'] == [0.5, 5.0]
    assert sorted(meta['videos']) == sorted(TRAIN + VAL)
    for latent in meta['videos'].values():
        assert 0.5 <= latent['snr'] <= 5.0


def _coverage(info, temporal_dim=100):
    """Fraction of each snippet inside an annotated segment, (T,)."""
    seconds = corrected_duration(info)
    t = np.arange(temporal_dim)
    cover = np.zeros(temporal_dim)
    for instance in info['annotations']:
        start, end = np.asarray(instance['segment']) * temporal_dim / seconds
        cover += np.clip(np.minimum(t + 1, end) - np.maximum(t, start), 0, 1)
    return cover


def test_signal_is_tied_to_the_segments():
    """Projections on the model's directions follow the annotations."""
    demo = load_json_strict(DEMO_ANN_FILE)
    class_gap, onset_gap, class_snr, onset_snr = [], [], [], []
    for name in sorted(demo)[:40]:
        info = demo[name]
        features, drawn = synthesize_video(
            name, info, signal=SignalConfig(distractor_rate=0.))
        assert drawn['distractors'] == []
        cover = _coverage(info)
        if (cover >= 1).any() and (cover == 0).any():
            label = info['annotations'][0]['label']
            projection = features @ direction(f'class:{label}')
            class_gap.append(projection[cover >= 1].mean() -
                             projection[cover == 0].mean())
            class_snr.append(drawn['snr'])
        onset = features @ direction('onset')
        start = int(info['annotations'][0]['segment'][0] * 100 /
                    corrected_duration(info))
        near = np.zeros(100, bool)
        near[max(start - 1, 0):start + 2] = True
        far = cover == 0
        far[max(start - 4, 0):start + 5] = False
        if far.any():
            onset_gap.append(onset[near].mean() - onset[far].mean())
            onset_snr.append(drawn['snr'])
    assert len(class_gap) > 20 and len(onset_gap) > 20
    # Gaps per unit of amplitude (amplitude = snr as noise_std = 1).
    # Inside an instance a class prototype has weight about
    # 1 / |a + p + 0.5 r| = 2 / 3, outside 0; the onset signature peaks at
    # 1 and averages about 0.7 over the three snippets around a start.
    assert 0.5 < np.sum(class_gap) / np.sum(class_snr) < 0.8
    assert 0.5 < np.sum(onset_gap) / np.sum(onset_snr) < 0.9


def test_distractors_are_drawn_and_unannotated():
    demo = load_json_strict(DEMO_ANN_FILE)
    names = sorted(demo)[:40]
    counts = []
    for name in names:
        _, drawn = synthesize_video(
            name, demo[name], signal=SignalConfig(distractor_rate=2.))
        counts.append(len(drawn['distractors']))
        cover = _coverage(demo[name])
        seconds = corrected_duration(demo[name])
        for start, end in drawn['distractors']:
            grid = slice(int(start * 100 / seconds),
                         int(np.ceil(end * 100 / seconds)))
            # At most half of a distractor lies inside actions.
            assert np.minimum(cover[grid], 1).mean() <= 0.5 + 0.1
    # Two tries on average per video; those mostly covered by actions have
    # no room, so fewer are placed.
    assert 20 < sum(counts) < 80
    assert max(counts) >= 3


def test_no_temp_files_left(tiny_features):
    names = [name for _, _, files in os.walk(tiny_features) for name in files]
    assert not [name for name in names if name.endswith('.tmp')]
    assert not [name for name in names if name.startswith('.')]


def test_interrupted_write_leaves_nothing(tmp_path, tiny_annotations,
                                         monkeypatch):
    calls = []

    def failing_save(file, array):
        calls.append(1)
        file.write(b'\x93NUMPY partial')
        raise KeyboardInterrupt

    monkeypatch.setattr(synthetic.np, 'save', failing_save)
    with pytest.raises(KeyboardInterrupt):
        synthesize_features(tiny_annotations, str(tmp_path), seed=0)
    assert calls == [1]
    assert os.listdir(tmp_path / 'npy') == []
    # The csv of the first video was complete before the interruption.
    assert os.listdir(tmp_path / 'csv_mean_100') == ['v_train_a.csv']
    lines = (tmp_path / 'csv_mean_100' / 'v_train_a.csv').read_text()
    assert len(lines.splitlines()) == 101


def test_bad_subset_names_the_video(tiny_annotations):
    tiny_annotations['v_val_b']['subset'] = 'testing'
    with pytest.raises(ValueError, match='v_val_b video: subset must be'):
        synthesize_features(tiny_annotations, '/nonexistent', seed=0)


def test_invalid_segment_names_the_video(tiny_annotations):
    tiny_annotations['v_train_c']['annotations'][0]['segment'] = [5., 5.]
    with pytest.raises(ValueError, match='v_train_c instance 0: .*zero'):
        synthesize_features(tiny_annotations, '/nonexistent', seed=0)


def test_too_many_videos_requested(tiny_annotations, tmp_path):
    with pytest.raises(ValueError, match='Asked for 4 training videos'):
        synthesize_features(tiny_annotations, str(tmp_path), num_train=4)


@pytest.mark.parametrize('kwargs, match', [
    (dict(snr_range=(0., 1.)), 'snr_range'),
    (dict(snr_range=(2., 1.)), 'snr_range'),
    (dict(noise_corr=1.), 'noise_corr'),
    (dict(distractor_length=(0.5, 1.5)), 'distractor_length'),
    (dict(boundary_width=0.), 'boundary_width'),
    (dict(noise_std=-1.), 'noise_std'),
])
def test_signal_config_checks(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SignalConfig(**kwargs)


def test_directions_are_unit_and_seeded():
    first = direction('class:Ballet', seed=0)
    assert first.shape == (400, )
    assert np.linalg.norm(first) == pytest.approx(1.)
    np.testing.assert_array_equal(first, direction('class:Ballet', seed=0))
    assert abs(first @ direction('class:Ballet', seed=1)) < 0.3
    assert abs(first @ direction('class:Archery', seed=0)) < 0.3
