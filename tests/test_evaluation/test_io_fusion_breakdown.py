# Copyright (c) rcl_mm contributors. All rights reserved.
"""Results loading, classifier fusion and the DETAD-style breakdown."""
import json
import os.path as osp

import numpy as np
import pytest
from eval_helpers import DATA, THUMOS_UNET

from rcl_mm.evaluation.functional import (
    bin_index, detad_breakdown, detection_map, fuse_class_scores,
    load_class_scores, load_ground_truth, load_predictions, plot_breakdown,
    predictions_from_results)
from rcl_mm.evaluation.functional.io import (_distinct_strings,
                                             _fast_parse_results,
                                             _parse_in_two, write_json_atomic)


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


@pytest.mark.parametrize('kwargs', [{}, {'indent': 2},
                                    {'separators': (',', ':')}])
def test_fast_reader_equals_json(tmp_path, kwargs):
    path = write(tmp_path / 'r.json', RESULTS, **kwargs)
    fast = _fast_parse_results(open(path, 'rb').read())
    assert fast is not None
    ref = predictions_from_results(RESULTS)
    assert fast.video_ids == ['a', 'b', 'c']
    np.testing.assert_array_equal(fast.video_index, [0, 0, 2])
    np.testing.assert_array_equal(fast.scores, [0.5, 1e-3, 0.1])
    np.testing.assert_array_equal(fast.segments, ref.segments)
    assert [fast.label_names[i] for i in fast.labels] == ['A', 'B', 'A']


def test_unusual_files_go_through_json(tmp_path):
    odd = json.loads(json.dumps(RESULTS))
    odd['results']['a'][0]['segment'] = ['1.25', '2']  # strings
    odd['results']['a'][1]['extra'] = 1  # another key
    path = write(tmp_path / 'odd.json', odd)
    assert _fast_parse_results(open(path, 'rb').read()) is None
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
        {'score': 1, 'segment': [0, 1]}]}})
    with pytest.raises(ValueError, match='have no "label"'):
        load_predictions(proposals, require_labels=True)


def big_results(num_videos=3000, per_video=20, seed=0):
    """About 5 MiB of results: labels that share their first and last
    8 bytes and length, ids that look like numbers, labels in only some
    videos of the second half."""
    rng = np.random.default_rng(seed)
    names = ['Playing the violin', 'Playing the guitar', 'Playing bagpipes',
             'x', 'ab', '1e5', '']
    results = {}
    for v in range(num_videos):
        dets = []
        for _ in range(per_video):
            s, e = sorted(rng.uniform(0, 100, 2))
            name = names[rng.integers(3 if v < num_videos // 2 else 7)]
            dets.append({'label': name, 'score': float(rng.random()),
                         'segment': [s, e]})
        results[str(10 ** 6 + v)] = dets
    return {'version': 'VERSION 1.3', 'results': results,
            'external_data': {'used': True, 'details': [1, 2]}}


@pytest.mark.parametrize('kwargs', [{}, {'indent': 1}])
def test_two_process_reader_equals_one(tmp_path, kwargs):
    data = big_results()
    text = json.dumps(data, **kwargs).encode()
    assert len(text) > 4 << 20
    two = _parse_in_two(text)
    assert two is not None
    ref = predictions_from_results(data)
    assert two.video_ids == ref.video_ids
    np.testing.assert_array_equal(two.video_index, ref.video_index)
    np.testing.assert_array_equal(two.segments, ref.segments)
    np.testing.assert_array_equal(two.scores, ref.scores)
    assert [two.label_names[i] for i in two.labels] == \
        [ref.label_names[i] for i in ref.labels]
    # A label that appears only in the second half is numbered after the
    # first half's, in order of first appearance, as json gives them.
    assert two.label_names == ref.label_names
    path = tmp_path / 'r.json'
    path.write_bytes(text)
    loaded = load_predictions(str(path), workers=2)
    np.testing.assert_array_equal(loaded.scores, ref.scores)


def test_two_process_reader_refuses_what_it_cannot_split():
    data = big_results()
    text = json.dumps(data).encode()
    assert _parse_in_two(text[:1000]) is None  # small: one process
    # The results object ends before the middle: the cut would fall in
    # another object, whose half is not a results object.
    filler = {'notes': [[i, 'x'] for i in range(400000)]}
    tail_heavy = json.dumps({'results': {'a': [
        {'label': 'A', 'score': 1, 'segment': [0, 1]}]}, **filler}).encode()
    assert len(tail_heavy) > 4 << 20
    assert _parse_in_two(tail_heavy) is None
    # A video in both halves is refused too.
    dup = text.replace(b'"1001499"', b'"1002999"', 1)
    assert _parse_in_two(dup) is None


def test_distinct_strings_exact_on_shared_keys():
    # Same length, same first and last 8 bytes, different middles.
    words = [b'abcdefgh_1_stuvwxyz', b'abcdefgh_2_stuvwxyz', b'ab', b'',
             b'abcdefgh_1_stuvwxyz', b'abcdefghi', b'abcdefgh_2_stuvwxyz']
    text = b'"' + b'""'.join(words) + b'"'
    starts, ends, at = [], [], 0
    for w in words:
        starts.append(at + 1)
        ends.append(at + 1 + len(w))
        at += len(w) + 2
    arr = np.frombuffer(text, np.uint8)
    names, index = _distinct_strings(text, arr, np.array(starts),
                                     np.array(ends))
    assert names == [w.decode() for w in dict.fromkeys(words)]
    assert [names[i] for i in index] == [w.decode() for w in words]


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
