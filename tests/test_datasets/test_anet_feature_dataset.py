# Copyright (c) rcl_mm contributors. All rights reserved.
import copy
import json
import re

import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope

from rcl_mm.datasets import ActivityNetFeatureDataset
from rcl_mm.registry import DATASETS

VIDEO = dict(
    duration_second=50.0,
    duration_frame=1500,
    feature_frame=1500,
    annotations=[
        dict(segment=[10.0, 30.0], label='Archery'),
        dict(segment=[35.0, 50.0], label='Ballet')
    ])


def write_ann(tmp_path, database, name='ann.json'):
    """Write ``database`` as JSON and return the path."""
    path = tmp_path / name
    path.write_text(json.dumps(database))
    return str(path)


def build(ann_file, **kwargs):
    """The dataset with an empty pipeline."""
    return ActivityNetFeatureDataset(ann_file, pipeline=[], **kwargs)


def two_videos():
    """A valid two-video database."""
    return {'v_a': copy.deepcopy(VIDEO), 'v_b': copy.deepcopy(VIDEO)}


def test_valid_file_and_feature_paths(tmp_path):
    ann_file = write_ann(tmp_path, two_videos())
    dataset = build(ann_file, data_prefix=dict(video='feats'))
    assert len(dataset) == 2
    info = dataset.get_data_info(1)
    assert info['video_name'] == 'v_b'
    assert info['feature_path'] == 'feats/v_b.csv'
    assert info['annotations'] == VIDEO['annotations']

    dataset = build(ann_file, data_prefix=dict(video='feats'),
                    feature_ext='.npy')
    assert dataset.get_data_info(0)['feature_path'] == 'feats/v_a.npy'
    # An empty prefix gives a relative path, not '/v_a.csv'.
    assert build(ann_file).get_data_info(0)['feature_path'] == 'v_a.csv'


def test_built_from_the_registry(tmp_path):
    ann_file = write_ann(tmp_path, two_videos())
    dataset = DATASETS.build(
        dict(type='ActivityNetFeatureDataset', ann_file=ann_file,
             pipeline=[]))
    assert isinstance(dataset, ActivityNetFeatureDataset)


def bad(database, video, mutate):
    """Apply ``mutate`` to ``database[video]`` and return the database."""
    mutate(database[video])
    return database


def set_segment(index, segment):
    """A mutation replacing one segment."""
    return lambda info: info['annotations'][index].update(segment=segment)


@pytest.mark.parametrize('mutate, match', [
    (set_segment(1, [20.0, 20.0]), 'instance 1: segment .* is zero-length'),
    (set_segment(0, [30.0, 10.0]), 'instance 0: segment .* is inverted'),
    (set_segment(0, [-0.5, 10.0]), 'instance 0: segment .* starts before 0'),
    (set_segment(1, [35.0, 51.5]),
     r'instance 1: segment .* ends after duration_second 50.0 \(\+ '
     r'tolerance 1.0 s\)'),
    (set_segment(0, [1.0]), 'instance 0: segment must be two finite'),
    (set_segment(0, [1.0, float('nan')]), 'instance 0: segment must be'),
    (set_segment(0, ['1', '2']), 'instance 0: segment must be'),
    (lambda info: info['annotations'][1].pop('label'),
     r"instance 1: missing key\(s\) \['label'\]"),
    (lambda info: info['annotations'][0].update(label=''),
     'instance 0: label must be a non-empty string'),
    (lambda info: info['annotations'].append('oops'),
     'instance 2: expected a dict'),
    (lambda info: info.pop('feature_frame'),
     r"video: missing key\(s\) \['feature_frame'\]"),
    (lambda info: info.update(duration_second=0),
     'video: duration_second must be a positive number'),
    (lambda info: info.update(duration_frame=True),
     'video: duration_frame must be a positive number'),
    (lambda info: info.update(annotations={}),
     'video: annotations must be a list'),
    (lambda info: info.update(annotations=[]),
     r'video: empty annotation list in a training set \(test_mode=False\)'),
])
def test_invalid_annotation_names_file_video_instance(tmp_path, mutate,
                                                      match):
    ann_file = write_ann(tmp_path, bad(two_videos(), 'v_b', mutate))
    with pytest.raises(ValueError) as error:
        build(ann_file)
    message = str(error.value)
    assert message.startswith(f'{ann_file}: 1 invalid annotation(s)')
    assert re.search(r'v_b ' + match, message), message


def test_segment_end_within_tolerance_passes(tmp_path):
    database = bad(two_videos(), 'v_a', set_segment(1, [35.0, 50.85]))
    assert len(build(write_ann(tmp_path, database))) == 2
    with pytest.raises(ValueError, match='v_a instance 1: .*tolerance 0.5'):
        build(write_ann(tmp_path, database), segment_tolerance=0.5)


def test_empty_annotations_allowed_in_test_mode(tmp_path):
    database = bad(two_videos(), 'v_b',
                   lambda info: info.update(annotations=[]))
    dataset = build(write_ann(tmp_path, database), test_mode=True)
    assert dataset.get_data_info(1)['annotations'] == []


def test_all_problems_reported_together(tmp_path):
    database = two_videos()
    set_segment(0, [5.0, 5.0])(database['v_a'])
    set_segment(1, [40.0, 39.0])(database['v_b'])
    database['v_b']['annotations'][0]['label'] = 7
    with pytest.raises(ValueError,
                       match=r'3 invalid annotation\(s\) in 2 video\(s\)'):
        build(write_ann(tmp_path, database))


@pytest.mark.parametrize('text, match', [
    ('{"v_a": {', r'is not valid JSON: .* at line 1'),
    # Truncated inside a string: json's message ends in "at" already.
    ('{"v_a": {"dur', 'is not valid JSON: Unterminated string starting at '
     'line 1, column 10; the file may be truncated'),
    ('{"v_a": {}, "v_a": {}}', r'duplicate key "v_a"'),
    ('[]', 'expected a non-empty JSON object'),
    ('{}', 'expected a non-empty JSON object'),
])
def test_malformed_file(tmp_path, text, match):
    path = tmp_path / 'broken.json'
    path.write_text(text)
    with pytest.raises(ValueError, match=re.escape(str(path)) + '.*' + match):
        build(str(path))


def test_missing_ann_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'nope\.json does not exist'):
        build(str(tmp_path / 'nope.json'))


def test_class_names_list_and_files(tmp_path):
    ann_file = write_ann(tmp_path, two_videos())
    dataset = build(ann_file, class_names=['Archery', 'Ballet', 'Zumba'])
    assert dataset.metainfo['classes'] == ('Archery', 'Ballet', 'Zumba')

    text_file = tmp_path / 'classes.txt'
    text_file.write_text('Archery\n\nBallet\n')
    json_file = tmp_path / 'classes.json'
    json_file.write_text(json.dumps(['Archery', 'Ballet']))
    for class_file in (text_file, json_file):
        assert len(build(ann_file, class_names=str(class_file))) == 2


def test_unknown_label(tmp_path):
    ann_file = write_ann(tmp_path, two_videos())
    class_file = tmp_path / 'classes.txt'
    class_file.write_text('Archery\n')
    with pytest.raises(ValueError) as error:
        build(ann_file, class_names=str(class_file))
    message = str(error.value)
    assert '2 invalid annotation(s) in 2 video(s)' in message
    assert ('v_a instance 1: unknown label "Ballet" (not in class_names)'
            in message)


@pytest.mark.parametrize('class_names, error, match', [
    ([], ValueError, 'non-empty list'),
    (['A', 'A'], ValueError, 'duplicate class names'),
    (['A', 3], ValueError, 'non-empty strings'),
    ('/nonexistent/classes.txt', FileNotFoundError,
     r'/nonexistent/classes\.txt does not exist'),
])
def test_bad_class_names(tmp_path, class_names, error, match):
    ann_file = write_ann(tmp_path, two_videos())
    with pytest.raises(error, match=match):
        build(ann_file, class_names=class_names)


@pytest.mark.parametrize('kwargs, match', [
    (dict(feature_ext='.h5'), 'feature_ext must be one of'),
    (dict(invalid_instances='ignore'), 'invalid_instances must be'),
    (dict(segment_tolerance=-1), 'segment_tolerance must be >= 0'),
])
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        build(write_ann(tmp_path, two_videos()), **kwargs)


class RecordingLogger:
    """Stands in for the current MMLogger; keeps the warnings."""

    def __init__(self):
        self.warnings = []

    def warning(self, message):
        self.warnings.append(message)


def test_drop_invalid_instances_with_warning(tmp_path, monkeypatch):
    database = two_videos()
    database['v_c'] = copy.deepcopy(VIDEO)
    set_segment(0, [5.0, 5.0])(database['v_a'])
    database['v_c']['annotations'] = [
        dict(segment=[0, 0], label='Archery')
    ]
    logger = RecordingLogger()
    monkeypatch.setattr(MMLogger, 'get_current_instance', lambda: logger)
    dataset = build(write_ann(tmp_path, database), invalid_instances='drop')
    assert [dataset.get_data_info(i)['video_name'] for i in range(2)] == [
        'v_a', 'v_b'
    ]
    assert len(dataset) == 2
    assert dataset.get_data_info(0)['annotations'] == VIDEO['annotations'][1:]
    assert len(logger.warnings) == 1
    assert 'v_a instance 0: segment [5.0, 5.0] is zero-length' in (
        logger.warnings[0])
    assert "training video(s) left without annotations: ['v_c']" in (
        logger.warnings[0])


def test_drop_still_raises_for_format_problems(tmp_path):
    database = bad(two_videos(), 'v_b', lambda info: info.pop('annotations'))
    with pytest.raises(ValueError, match='v_b video: missing key'):
        build(write_ann(tmp_path, database), invalid_instances='drop')


@pytest.mark.parametrize('feature_ext, folder', [('.csv', 'csv_mean_100'),
                                                 ('.npy', 'npy')])
def test_pipeline_with_mmaction_transforms(tiny_features, tiny_annotations,
                                           feature_ext, folder):
    pipeline = [
        dict(type='LoadSnippetFeature', feat_dim=400, min_snippets=100),
        dict(type='ResizeFeature', temporal_dim=100),
        dict(type='GenerateLocalizationLabels'),
        dict(
            type='PackLocalizationInputs',
            keys=('gt_bbox', ),
            meta_keys=('video_name', 'duration_second', 'annotations'))
    ]
    with DefaultScope.overwrite_default_scope('rcl_mm'):
        dataset = DATASETS.build(
            dict(
                type='ActivityNetFeatureDataset',
                ann_file=str(tiny_features / 'anet_anno_train.json'),
                data_prefix=dict(video=str(tiny_features / folder)),
                feature_ext=feature_ext,
                pipeline=pipeline))
    assert len(dataset) == 3
    for index in range(3):
        packed = dataset[index]
        name = packed['data_samples'].metainfo['video_name']
        inputs = packed['inputs']
        assert inputs.shape == (400, 100)
        assert inputs.dtype == torch.float32
        expected = np.load(tiny_features / 'npy' / f'{name}.npy').T
        np.testing.assert_array_equal(inputs.numpy(), expected)

        gt_bbox = packed['data_samples'].gt_instances.gt_bbox
        info = tiny_annotations[name]
        seconds = (info['feature_frame'] / info['duration_frame'] *
                   info['duration_second'])
        segments = np.array([a['segment'] for a in info['annotations']])
        assert gt_bbox.shape == (len(segments), 2)
        assert float(gt_bbox.min()) >= 0 and float(gt_bbox.max()) <= 1
        np.testing.assert_allclose(
            gt_bbox.numpy(), np.clip(segments / seconds, 0, 1), rtol=1e-6)
