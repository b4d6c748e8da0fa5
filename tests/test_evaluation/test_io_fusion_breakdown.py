# Copyright (c) rcl_mm contributors. All rights reserved.
"""Results loading, classifier fusion and the DETAD-style breakdown."""
import gc
import json
import os.path as osp

import numpy as np
import pytest
from eval_helpers import DATA, THUMOS_UNET

from rcl_mm.evaluation.functional import (bin_index, detad_breakdown,
                                          detection_map, fuse_class_scores, io,
                                          load_class_scores, load_ground_truth,
                                          load_predictions, plot_breakdown,
                                          predictions_from_results)
from rcl_mm.evaluation.functional.io import (_predictions_one_by_one,
                                             write_json_atomic)


def write(path, content, **kwargs):
    path.write_text(json.dumps(content, **kwargs))
    return str(path)


RESULTS = {'version': 'VERSION 1.3', 'external_data': {'used': True},
           'results': {
               'a': [{'label': 'A', 'score': 0.5, 'segment': [1.25, 2]},
                     {'label': 'B', 'score': 1e-3, 'segment': [0, 3.5]}],
               'b': [],
               'c': [{'label': 'A', 'score': 0.1,
                      'segment': [-0.0, 0.30000000000000004]}]}}


@pytest.fixture(params=['orjson', 'json'])
def parser(request, monkeypatch):
    """Each test runs with orjson and with the standard library's json
    (what a machine without orjson gets)."""
    if request.param == 'json':
        monkeypatch.setattr(io, 'orjson', None)
    else:
        pytest.importorskip('orjson')
    return request.param


@pytest.mark.parametrize('kwargs', [{}, {'indent': 2},
                                    {'separators': (',', ':')}])
def test_reader_hand_case(tmp_path, kwargs, parser):
    path = write(tmp_path / 'r.json', RESULTS, **kwargs)
    preds = load_predictions(path)
    assert preds.video_ids == ['a', 'b', 'c']
    np.testing.assert_array_equal(preds.video_index, [0, 0, 2])
    np.testing.assert_array_equal(preds.scores, [0.5, 1e-3, 0.1])
    np.testing.assert_array_equal(
        preds.segments, [[1.25, 2], [0, 3.5], [-0.0, 0.30000000000000004]])
    assert preds.label_names == ['A', 'B']
    np.testing.assert_array_equal(preds.labels, [0, 1, 0])


def test_unusual_files(tmp_path, parser):
    odd = json.loads(json.dumps(RESULTS))
    odd['results']['a'][0]['segment'] = ['1.25', '2']  # strings
    odd['results']['a'][1]['extra'] = 1  # another key
    path = write(tmp_path / 'odd.json', odd)
    preds = load_predictions(path)
    np.testing.assert_array_equal(preds.segments[0], [1.25, 2])
    escaped = write(tmp_path / 'esc.json', {'results': {'a': [
        {'label': 'caf\u00e9 "x"', 'score': 1, 'segment': [0, 1]}]}})
    assert load_predictions(escaped).label_names == ['caf\u00e9 "x"']
    bad = tmp_path / 'bad.json'
    bad.write_text('{"results": ')
    with pytest.raises(ValueError, match='bad.json is not valid JSON'):
        load_predictions(str(bad))
    with pytest.raises(ValueError, match='has no "results" object'):
        load_predictions(write(tmp_path / 'no.json', {'x': 1}))
    proposals = write(tmp_path / 'p.json', {'results': {'a': [
        {'label': 'A', 'score': 1, 'segment': [0, 1]},
        {'score': 1, 'segment': [0, 1]}, {'score': 1, 'segment': [0, 1]}]}})
    with pytest.raises(ValueError, match=r'have no "label" \(video \'a\', '
                       'detection 1; 1 more like it'):
        load_predictions(proposals, require_labels=True)
    assert load_predictions(proposals).labels.tolist() == [0, -1, -1]


def test_nan_is_read_and_refused_by_name(tmp_path, parser):
    """orjson refuses NaN; json reads it, so the check names the
    detection instead of calling the file invalid JSON."""
    nan = json.loads(json.dumps(RESULTS))
    nan['results']['c'][0]['score'] = float('nan')
    path = write(tmp_path / 'nan.json', nan)
    with pytest.raises(ValueError, match="video 'c', detection 0.*finite"):
        load_predictions(path)


@pytest.mark.parametrize('detection,shown', [
    ({'label': 'A', 'score': 1, 'segment': [0, 1, 2]}, 'segment'),
    ({'label': 'A', 'segment': [0, 1]}, "'segment': [0, 1]"),
    ({'label': 'A', 'score': 'high', 'segment': [0, 1]}, 'high'),
    ([0, 1], '[0, 1]'),
])
def test_malformed_detection_named(tmp_path, parser, detection, shown):
    data = {'results': {'a': [{'score': 1, 'segment': [0, 1]}],
                        'b': [{'score': 1, 'segment': [0, 1]}, detection]}}
    path = write(tmp_path / 'm.json', data)
    with pytest.raises(ValueError) as error:
        load_predictions(path)
    message = str(error.value)
    assert "m.json: video 'b' has a detection" in message
    assert shown in message


def big_results(num_videos=3000, per_video=20, seed=0):
    """60k predictions: ids that look like numbers, labels that appear
    first in the second half, videos without a prediction."""
    rng = np.random.default_rng(seed)
    names = ['Playing the violin', 'Playing the guitar', 'Playing bagpipes',
             'x', 'ab', '1e5', '']
    results = {}
    for v in range(num_videos):
        dets = []
        for _ in range(per_video if v % 7 else 0):
            s, e = sorted(rng.uniform(0, 100, 2))
            name = names[rng.integers(3 if v < num_videos // 2 else 7)]
            dets.append({'label': name, 'score': float(rng.random()),
                         'segment': [s, e]})
        results[str(10 ** 6 + v)] = dets
    return {'version': 'VERSION 1.3', 'results': results,
            'external_data': {'used': True, 'details': [1, 2]}}


def test_flat_reader_equals_loop(tmp_path, parser):
    data = big_results()
    path = tmp_path / 'r.json'
    path.write_text(json.dumps(data))
    preds = load_predictions(str(path))
    ref = _predictions_one_by_one(data['results'], 'ref')
    assert preds.video_ids == ref.video_ids
    np.testing.assert_array_equal(preds.video_index, ref.video_index)
    np.testing.assert_array_equal(preds.segments, ref.segments)
    np.testing.assert_array_equal(preds.scores, ref.scores)
    # Labels numbered in order of first appearance, as the loop does.
    assert preds.label_names == ref.label_names
    np.testing.assert_array_equal(preds.labels, ref.labels)
    assert len(preds) == 3000 * 20 - 429 * 20


def test_gc_paused_restores_the_collector(tmp_path):
    bad = tmp_path / 'bad.json'
    bad.write_text('{"results": ')
    assert gc.isenabled()
    with pytest.raises(ValueError, match='not valid JSON'):
        load_predictions(str(bad))
    assert gc.isenabled()
    gc.disable()
    try:
        with io.gc_paused():
            pass
        assert not gc.isenabled()  # off before: stays off
    finally:
        gc.enable()
    # What the block made joins the oldest generation: the youngest is
    # left empty (no pass over it at the next allocation), and a cycle
    # made there is still collected by a full collection.
    with io.gc_paused():
        made = [[] for _ in range(10000)]
        cycle = []
        cycle.append(cycle)
    assert gc.get_count()[0] < 100
    assert any(made[0] is obj for obj in gc.get_objects(generation=2))
    del cycle
    assert gc.collect() >= 1


def test_write_json_atomic_leaves_no_partial_file(tmp_path):
    path = tmp_path / 'sub' / 'm.json'
    write_json_atomic(str(path), {'a': 1})
    assert json.loads(path.read_text()) == {'a': 1}
    with pytest.raises(TypeError):
        write_json_atomic(str(path), {'a': object()})
    assert json.loads(path.read_text()) == {'a': 1}
    assert sorted(p.name for p in path.parent.iterdir()) == ['m.json']


def test_fuse_class_scores_hand_computed():
    segs, scores, labels = fuse_class_scores(
        [[0, 1], [2, 3]], [0.5, 0.25], [0.1, 0.6, 0.3], top_k=2)
    np.testing.assert_array_equal(labels, [1, 1, 2, 2])
    np.testing.assert_allclose(scores, [0.3, 0.15, 0.15, 0.075])
    np.testing.assert_array_equal(segs, [[0, 1], [2, 3], [0, 1], [2, 3]])


def test_real_class_score_files():
    path = osp.join(DATA, 'activitynet',
                    'sample_classification_prediction.json')
    table = load_class_scores(path)
    raw = json.load(open(path))['results']
    vid = next(iter(raw))
    row = table(vid)
    for entry in raw[vid]:
        assert row[table.class_names.index(entry['label'])] == \
            entry['score']
    assert np.array_equal(table('v_' + vid), row)
    npy = THUMOS_UNET
    thumos = load_class_scores(npy, video_ids=['video_test_0000004'])
    raw = np.load(npy)
    # CricketBowling is UCF101 class 23: column 22 of row 3.
    col = thumos.class_names.index('CricketBowling')
    assert thumos('video_test_0000004')[col] == raw[3, 22]
    with pytest.raises(KeyError, match="no class scores for video 'x'"):
        thumos('x')


def test_bin_index_is_right_closed():
    edges = np.array([0, 30, 60, np.inf])
    np.testing.assert_array_equal(
        bin_index(np.array([0, 30, 30.5, 60, 1e9, -1, np.nan]), edges),
        [0, 0, 1, 1, 2, -1, -1])


def test_breakdown_hand_computed(tmp_path):
    db = {'a': {'subset': 'validation', 'duration': 100.0, 'annotations': [
        {'segment': [0, 10], 'label': 'A'},     # coverage .1, length XS
        {'segment': [0, 90], 'label': 'A'}]}}   # coverage .9, length M
    res = {'results': {'a': [
        {'segment': [0, 90], 'score': .9, 'label': 'A'},
        {'segment': [50, 60], 'score': .8, 'label': 'A'},  # background
        {'segment': [0, 10], 'score': .7, 'label': 'A'}]}}
    gt = load_ground_truth({'database': db})
    out = detection_map(gt, predictions_from_results(res), [0.5])
    breakdown = detad_breakdown(gt, out)
    # XL coverage: its TP first -> AP 1. XS: the other bin's TP is
    # dropped, then FP, TP -> precision 1/2 at recall 1.
    assert breakdown['coverage'] == {'XS': 0.5, 'S': None, 'M': None,
                                     'L': None, 'XL': 1.0}
    assert breakdown['length'] == {'XS': 0.5, 'S': None, 'M': 1.0,
                                   'L': None, 'XL': None}
    png = tmp_path / 'b.png'
    plot_breakdown(breakdown, str(png), out['average_mAP'])
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
