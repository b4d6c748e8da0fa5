# Copyright (c) rcl_mm contributors. All rights reserved.
"""Ground truth and predictions as flat arrays, and their fast loading.

Two ground-truth layouts are read: the official ActivityNet one
(``{'database': {id: {'subset', 'duration', 'annotations'}}}``, also G-TAD's
THUMOS14 file whose segments are strings) and mmaction2's
(``{'v_<id>': {'duration_second', 'annotations'}}``). Predictions are the
official results JSON (``{'results': {id: [{'segment', 'score',
'label'}]}}``). Python's json needs 1.4 s for 490k predictions, so the
results are read with regular expressions into numpy when the file is plain
(one strict pattern must match every detection object, else json is used);
both give the same float64 values, since both round correctly.
"""
import json
import os
import os.path as osp
import pickle
import re
import tempfile
import warnings
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

#: Range of a detection score (:func:`check_predictions`).
SCORE_RANGE = (0.0, 1.0)


class EvaluationInputError(ValueError):
    """A bad ground-truth or results file; the message names the file,
    the video and the detection. The tools report it in one line, without
    a traceback (``rcl_mm.utils.cli``; this module imports numpy only)."""
    user_error = True


class EvaluationFileNotFoundError(FileNotFoundError):
    """A ground-truth or results file that does not exist."""
    user_error = True


def _read_bytes(path: str, what: str) -> bytes:
    if not osp.isfile(path):
        raise EvaluationFileNotFoundError(
            f'{what} file not found ({path}): check the path')
    with open(path, 'rb') as f:
        return f.read()


@dataclass
class GroundTruth:
    """Ground-truth instances of one subset, flat.

    Attributes:
        video_ids (list[str]): The V videos of the subset, in file order
            (official ids: no ``v_`` prefix).
        durations (np.ndarray): V seconds (NaN where unknown).
        class_names (list[str]): The C classes, in order of first
            appearance (the official class index).
        video_index (np.ndarray): K int, video of each instance.
        labels (np.ndarray): K int, class of each instance.
        segments (np.ndarray): K x 2 float64 ``[start, end]`` seconds.
    """
    video_ids: List[str]
    durations: np.ndarray
    class_names: List[str]
    video_index: np.ndarray
    labels: np.ndarray
    segments: np.ndarray

    @property
    def num_instances(self) -> int:
        return len(self.labels)


@dataclass
class Predictions:
    """Predictions in file order, flat.

    Attributes:
        video_ids (list[str]): The videos, in file order.
        video_index (np.ndarray): N int, video of each prediction.
        segments (np.ndarray): N x 2 float64.
        scores (np.ndarray): N float64.
        label_names (list[str]): Names that ``labels`` index.
        labels (np.ndarray): N int; -1 for predictions without a label.
    """
    video_ids: List[str]
    video_index: np.ndarray
    segments: np.ndarray
    scores: np.ndarray
    label_names: List[str] = field(default_factory=list)
    labels: Optional[np.ndarray] = None

    def __post_init__(self):
        if self.labels is None:
            self.labels = np.full(len(self.scores), -1, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.scores)

    def first_flagged(self, flagged: np.ndarray):
        """Where the first flagged prediction is, for an error message.

        Args:
            flagged (np.ndarray): N bool, at least one True.

        Returns:
            tuple: ``(i, video, position, more)``: its index, its video's
            index, its position in that video's list, and
            ``'; k more like it'`` (``''`` when it is the only one).
        """
        where = np.flatnonzero(flagged)
        i = int(where[0])
        video = int(self.video_index[i])
        position = i - int(np.searchsorted(self.video_index, video))
        more = f'; {len(where) - 1} more like it' if len(where) > 1 else ''
        return i, video, position, more


def video_rows(gt: 'GroundTruth', preds: 'Predictions') -> np.ndarray:
    """Ground-truth video index of each prediction's video (-1: none).

    A results key ``v_<id>`` also finds the official id ``<id>``.

    Args:
        gt (GroundTruth): Ground truth.
        preds (Predictions): Predictions.

    Returns:
        np.ndarray: ``len(preds.video_ids)`` int.
    """
    index = {v: i for i, v in enumerate(gt.video_ids)}
    return np.array([
        index.get(v, index.get(v[2:], -1) if v.startswith('v_') else -1)
        for v in preds.video_ids
    ], dtype=np.int64)


def strip_video_prefix(name: str) -> str:
    """mmaction2 names ActivityNet videos ``v_<youtube id>``; the official
    layout has no prefix. THUMOS names (``video_test_...``) are kept."""
    return name[2:] if name.startswith('v_') else name


def _load_json(path: str, what: str = 'ground truth') -> dict:
    text = _read_bytes(path, what)
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise EvaluationInputError(
            f'{path} is not valid JSON ({e}): the file may be truncated; '
            'write it again') from e


def load_ground_truth(path_or_data, subset: Optional[str] = 'validation',
                      path: str = '<ground truth>') -> GroundTruth:
    """Read ground truth in the official or mmaction2's layout.

    Args:
        path_or_data (str | dict): A JSON file or its loaded content.
        subset (str, optional): Official layout: keep the videos of this
            subset (``'validation'``, ``'test'``...); None keeps all.
            mmaction2's layout has one file per subset and ignores it.
        path (str): Name for messages when ``path_or_data`` is a dict.

    Returns:
        GroundTruth: The instances.
    """
    if isinstance(path_or_data, str):
        path = path_or_data
        data = _load_json(path)
    else:
        data = path_or_data
    if not isinstance(data, dict):
        raise EvaluationInputError(
            f'{path}: expected a JSON object of videos.')
    if 'database' in data:
        videos = []
        for vid, info in data['database'].items():
            if subset is not None and info.get('subset') != subset:
                continue
            videos.append((vid, info.get('duration'),
                           info.get('annotations', [])))
        if not videos:
            subsets = sorted({str(v.get('subset'))
                              for v in data['database'].values()})
            raise EvaluationInputError(
                f'{path} has no video of subset {subset!r}; its subsets '
                f'are {subsets}: pass one of them (--subset).')
    else:
        videos = []
        for name, info in data.items():
            if not isinstance(info, dict) or 'annotations' not in info:
                raise EvaluationInputError(
                    f'{path}: video {name!r} has no "annotations"; expected '
                    'the official layout (with "database") or mmaction2\'s '
                    '({"v_<id>": {"duration_second", "annotations"}}).')
            videos.append((strip_video_prefix(name),
                           info.get('duration_second'), info['annotations']))
    return ground_truth_from_videos(videos, path)


def ground_truth_from_videos(videos: Sequence, path: str = '<ground truth>'
                             ) -> GroundTruth:
    """Build :class:`GroundTruth` from ``(video_id, duration, annotations)``.

    Args:
        videos (Sequence[tuple]): ``annotations`` is a list of
            ``{'segment': [start, end], 'label': name}``; segments may be
            strings (G-TAD's THUMOS14 file). ``duration`` may be None.
        path (str): File name for messages.

    Returns:
        GroundTruth: The instances.
    """
    class_index: Dict[str, int] = {}
    video_ids, durations = [], []
    video_index, labels, segments = [], [], []
    for v, (vid, duration, annotations) in enumerate(videos):
        video_ids.append(vid)
        durations.append(np.nan if duration is None else float(duration))
        for ann in annotations:
            try:
                label = ann['label']
                start, end = (float(x) for x in ann['segment'])
            except (KeyError, TypeError, ValueError) as e:
                raise EvaluationInputError(
                    f'{path}: video {vid!r} has an annotation {ann!r} '
                    'without a "label" and a two-number "segment".') from e
            video_index.append(v)
            labels.append(class_index.setdefault(label, len(class_index)))
            segments.append((start, end))
    return GroundTruth(
        video_ids=video_ids,
        durations=np.asarray(durations, dtype=np.float64),
        class_names=list(class_index),
        video_index=np.asarray(video_index, dtype=np.int64),
        labels=np.asarray(labels, dtype=np.int64),
        segments=np.asarray(segments, dtype=np.float64).reshape(-1, 2))


_WS = b' \t\r\n'
_BLANK_STRUCTURE = bytes.maketrans(b'{}[]:,', b'      ')
_BRACKET_KIND = bytes(1 if c in b'{[' else 2 if c in b'}]' else 0
                      for c in range(256))


def _fast_parse_results(text: bytes) -> Optional[Predictions]:
    """Read a plain results JSON with numpy; None if it is not plain.

    Plain: no backslash escapes; one ``"results"`` key; every detection
    object holds ``segment`` (two numbers), ``score`` (a number) and, for
    all or none, ``label`` (a string), in the key order of the first one.
    Numbers are parsed by numpy's correctly rounded parser, so they equal
    Python's ``float``. Anything else returns None (json reads it).
    """
    if b'\\' in text or text.count(b'"results"') != 1:
        return None
    arr = np.frombuffer(text, dtype=np.uint8)
    q = np.flatnonzero(arr == ord('"'))
    if len(q) % 2:
        return None
    opens, closes = q[0::2], q[1::2]
    # 1 for '{' and '[', 2 for '}' and ']', else 0 (bytes.translate is
    # the fastest pass over the text).
    kind = np.frombuffer(text.translate(_BRACKET_KIND), dtype=np.uint8)
    cand = np.flatnonzero(kind)
    # Bytes from an opening quote to its closing quote are inside a string.
    edges = np.zeros(len(arr) + 1, dtype=np.int8)
    edges[opens] = 1
    edges[closes + 1] = -1
    in_string = np.cumsum(edges[:-1], dtype=np.int8).view(bool)
    brackets = cand[~in_string[cand]]
    depth_after = np.cumsum(np.where(kind[brackets] == 1, 1, -1))
    # The results object: the first '{' after the key, outside strings.
    key_at = text.find(b'"results"')
    i = np.searchsorted(brackets, key_at)
    if i >= len(brackets) or arr[brackets[i]] != ord('{') or \
            text[key_at + 9:brackets[i]].strip(_WS) != b':':
        return None
    d = depth_after[i]
    after = np.flatnonzero(depth_after[i:] == d - 1)
    if not len(after) or d != 2:
        return None
    lo, hi = brackets[i], brackets[i + after[0]]
    sel = (opens > lo) & (opens < hi)
    s_open, s_close = opens[sel], closes[sel]
    s_depth = depth_after[np.searchsorted(brackets, s_open) - 1]
    nxt = arr[np.minimum(s_close + 1, len(arr) - 1)]
    nxt2 = arr[np.minimum(s_close + 2, len(arr) - 1)]
    is_key = (nxt == ord(':')) | ((nxt == ord(' ')) & (nxt2 == ord(':')))
    is_video_key = is_key & (s_depth == d)
    video_keys = s_open[is_video_key]
    b_sel = (brackets > lo) & (brackets < hi)
    b_pos, b_depth = brackets[b_sel], depth_after[b_sel]
    b_open = arr[b_pos]
    obj = b_pos[(b_open == ord('{')) & (b_depth == d + 2)]
    lists = b_pos[(b_open == ord('[')) & (b_depth == d + 1)]
    if len(lists) != len(video_keys) or (
            (b_open == ord('{')) & (b_depth > d + 2)).any():
        return None
    n = len(obj)
    det_keys = is_key & (s_depth == d + 2)
    k_open, k_close = s_open[det_keys], s_close[det_keys]
    if n == 0 or len(k_open) % n:
        return None
    num_keys = len(k_open) // n
    first = [text[a + 1:b] for a, b in zip(k_open[:num_keys],
                                           k_close[:num_keys])]
    if sorted(first) not in ([b'score', b'segment'],
                             [b'label', b'score', b'segment']):
        return None
    # Every object has the same keys in the same order, inside it.
    sig = (k_close - k_open) * 256 + arr[k_open + 1]
    sig = sig.reshape(n, num_keys)
    obj_end = b_pos[(b_open == ord('}')) & (b_depth == d + 1)]
    k_grid = k_open.reshape(n, num_keys)
    if (sig != sig[0]).any() or len(obj_end) != n or \
            (k_grid[:, 0] < obj).any() or (k_grid[:, -1] > obj_end).any() \
            or (obj[1:] < obj_end[:-1]).any():
        return None
    # Numbers are what is left of the results object with its strings and
    # structure blanked; numpy's text parser rounds as Python's float does
    # (and is twice as fast as splitting and mapping float).
    body = np.frombuffer(text[lo:hi + 1].translate(_BLANK_STRUCTURE),
                         dtype=np.uint8).copy()
    np.putmask(body, in_string[lo:hi + 1], ord(' '))
    with warnings.catch_warnings():
        # A token that is not a number ends the parse with a warning.
        warnings.simplefilter('error')
        try:
            values = np.fromstring(body.tobytes(), dtype=np.float64,
                                   sep=' ')
        except (ValueError, DeprecationWarning):
            return None
    if len(values) != 3 * n:
        return None
    values = values.reshape(n, 3)
    order = [k for k in first if k != b'label']
    score_col = 0 if order[0] == b'score' else 2
    seg_cols = [1, 2] if score_col == 0 else [0, 1]
    video_index = np.searchsorted(video_keys, obj) - 1
    ids = [text[a + 1:b].decode() for a, b in zip(
        s_open[is_video_key].tolist(), s_close[is_video_key].tolist())]
    if len(set(ids)) != len(ids) or (video_index < 0).any():
        return None
    label_names, labels = [], None
    if b'label' in first:
        value_idx = np.flatnonzero(~is_key & (s_depth == d + 2))
        if len(value_idx) != n:
            return None
        label_names, labels = _distinct_strings(
            text, arr, s_open[value_idx] + 1, s_close[value_idx])
    return Predictions(ids, video_index.astype(np.int64),
                       np.ascontiguousarray(values[:, seg_cols]),
                       np.ascontiguousarray(values[:, score_col]),
                       label_names, labels)


def _distinct_strings(text: bytes, arr: np.ndarray, starts: np.ndarray,
                      ends: np.ndarray):
    """Group the strings ``text[starts[i]:ends[i]]`` by value.

    A few distinct values (labels) repeated many times: strings are keyed
    by their length and their first and last 8 bytes, and every string is
    then compared byte by byte with the first of its key, so the grouping
    is exact (a key shared by different strings falls back to slicing).

    Returns:
        tuple[list[str], np.ndarray]: The distinct values in order of first
        appearance, and the N int64 index of each string among them.
    """
    n = len(starts)
    lengths = ends - starts
    # Every 8-byte window of the text as a little-endian integer (a view).
    windows = np.ndarray((max(len(arr) - 7, 0),), dtype='<u8', buffer=arr,
                         strides=(1,))
    short = lengths < 8
    # Strings of fewer than 8 bytes: keep their bytes only (the lowest).
    head = windows[np.minimum(starts, len(windows) - 1)] & np.where(
        short, (np.uint64(1) << (8 * lengths.astype(np.uint64) % 64)) -
        np.uint64(1), ~np.uint64(0))
    tail = np.where(short, np.uint64(0), windows[np.maximum(ends - 8, 0)])
    key = (head * np.uint64(0x9E3779B97F4A7C15)) ^ tail ^ \
        lengths.astype(np.uint64)
    _, first, inverse = np.unique(key, return_index=True,
                                  return_inverse=True)
    inverse = inverse.reshape(-1)
    rep = first[inverse]
    same = (lengths == lengths[rep]) & (head == head[rep]) & \
        (tail == tail[rep])
    for j in range(8, int(lengths.max(initial=0)) - 8):
        inner = np.flatnonzero(lengths - 8 > j)
        same[inner] &= arr[starts[inner] + j] == arr[starts[rep[inner]] + j]
    if not same.all():
        names = [text[a:b] for a, b in zip(starts.tolist(), ends.tolist())]
        lookup = {k: i for i, k in enumerate(dict.fromkeys(names))}
        return ([k.decode() for k in lookup],
                np.fromiter(map(lookup.__getitem__, names), np.int64, n))
    # Number the groups in order of first appearance, as json would.
    by_first = np.argsort(first, kind='stable')
    rank = np.empty_like(by_first)
    rank[by_first] = np.arange(len(first))
    names = [text[starts[i]:ends[i]].decode() for i in first[by_first]]
    return names, rank[inverse].astype(np.int64)


def load_predictions(path: str, require_labels: bool = False,
                     workers: int = 1) -> Predictions:
    """Read the official results JSON.

    Args:
        path (str): ``{'results': {video_id: [{'segment': [s, e],
            'score': x, 'label': name}]}}``.
        require_labels (bool): Raise if a detection has no label.
        workers (int): With 2 (POSIX, files of 4 MiB and more), a forked
            process parses the second half of the videos while this one
            parses the first: reading 490k predictions takes about half
            the time. Anything unexpected falls back to one process.

    Returns:
        Predictions: In file order (the order the official code sorts in).
    """
    text = _read_bytes(path, 'results')
    parsed = _parse_in_two(text) if workers >= 2 else None
    if parsed is None:
        parsed = _fast_parse_results(text)
    if parsed is None:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise EvaluationInputError(
                f'{path} is not valid JSON ({e}): the file may be '
                'truncated; write it again') from e
        return predictions_from_results(data, path, require_labels)
    preds = parsed
    if require_labels and (preds.labels < 0).any():
        raise EvaluationInputError(
            f'{path}: detections have no "label"; detection mAP needs '
            'one per detection (or evaluate with --proposals).')
    check_predictions(preds, path)
    return preds


def check_predictions(preds: 'Predictions', path: str = '<results>'
                      ) -> None:
    """Refuse predictions the evaluation would silently get wrong.

    Every segment must be two finite numbers with ``start <= end`` and
    every score a finite number in :data:`SCORE_RANGE` (``[0, 1]``: the
    scores of every detector here and of mmaction2's are probabilities;
    anything else is a wrong column or raw logits, and mAP depends only on
    the order of the scores, so a monotonic rescaling changes nothing).
    The official code would sort a NaN score anywhere and count a
    reversed segment's negative length in the union. Vectorised: 490k
    predictions take milliseconds.

    Args:
        preds (Predictions): As read.
        path (str): File name for messages.

    Raises:
        EvaluationInputError: Naming the file, the video, the detection's
            index in the video's list, and the count of other bad ones.
    """
    seg, score = preds.segments, preds.scores
    lo, hi = SCORE_RANGE
    checks = [
        (~np.isfinite(seg).all(axis=1), 'a segment that is not two finite '
         'numbers', 'write finite [start, end] seconds'),
        (~np.isfinite(score), 'a score that is not a finite number',
         'write a finite score'),
        (seg[:, 0] > seg[:, 1], 'a reversed segment (start > end)',
         'write segments as [start, end] with start <= end'),
        ((score < lo) | (score > hi), f'a score outside [{lo:g}, {hi:g}]',
         'write scores in [0, 1] (mAP depends only on their order, so '
         'rescaling them monotonically changes nothing)'),
    ]
    for bad, what, fix in checks:
        if not bad.any():
            continue
        i, v, position, more = preds.first_flagged(bad)
        raise EvaluationInputError(
            f'detection with {what}: segment {seg[i].tolist()}, score '
            f'{float(score[i])!r} ({path}, video {preds.video_ids[v]!r}, '
            f'detection {position}{more}): {fix}')


# The end of one video's list and the key of the next: ``], "``.
_VIDEO_BOUNDARY = re.compile(rb'\]\s*,\s*"')


def _parse_in_two(text: bytes) -> Optional[Predictions]:
    """:func:`_fast_parse_results` on two halves, the second in a forked
    process; None where that is not possible (then parse in one).

    The text is cut at a ``], "`` after its middle. Each half becomes a
    results JSON of its own and is checked as strictly as the whole: a cut
    inside a string leaves an odd number of quotes, a cut outside the
    results object leaves no detection objects, and both return None.
    """
    if not hasattr(os, 'fork') or len(text) < (4 << 20):
        return None
    key_at = text.find(b'"results"')
    cut = _VIDEO_BOUNDARY.search(text, max(key_at, len(text) // 2))
    if key_at < 0 or cut is None:
        return None
    first = text[:cut.start() + 1] + b'}}'
    second = b'{"results": {' + text[cut.end() - 1:]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: parse, send, leave without cleanup
        status = 1
        try:
            os.close(read_end)
            payload = pickle.dumps(_fast_parse_results(second),
                                   protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_end, 'wb') as pipe:
                pipe.write(payload)
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    try:
        head = _fast_parse_results(first)
    finally:
        with os.fdopen(read_end, 'rb') as pipe:
            payload = pipe.read()
        os.waitpid(pid, 0)
    tail = pickle.loads(payload) if payload else None
    if head is None or tail is None:
        return None
    return _concat_predictions(head, tail)


def _concat_predictions(head: Predictions, tail: Predictions
                        ) -> Optional[Predictions]:
    """The predictions of two halves of one file, in file order; None if
    they disagree (a video in both, labels in only one)."""
    if set(head.video_ids) & set(tail.video_ids) or \
            bool(head.label_names) != bool(tail.label_names):
        return None
    names = list(dict.fromkeys(head.label_names + tail.label_names))
    tail_labels = tail.labels
    if tail.label_names:
        index = {n: i for i, n in enumerate(names)}
        lut = np.array([index[n] for n in tail.label_names], np.int64)
        tail_labels = lut[tail.labels]
    return Predictions(
        head.video_ids + tail.video_ids,
        np.concatenate([head.video_index,
                        tail.video_index + len(head.video_ids)]),
        np.concatenate([head.segments, tail.segments]),
        np.concatenate([head.scores, tail.scores]), names,
        np.concatenate([head.labels, tail_labels]))


def predictions_from_results(data: dict, path: str = '<results>',
                             require_labels: bool = False) -> Predictions:
    """Build :class:`Predictions` from a loaded results JSON.

    Args:
        data (dict): ``{'results': {video_id: [detection, ...]}}``.
        path (str): File name for messages.
        require_labels (bool): Raise if a detection has no label.

    Returns:
        Predictions: In file order.
    """
    if not isinstance(data, dict) or not isinstance(data.get('results'),
                                                    dict):
        raise EvaluationInputError(
            f'{path} has no "results" object; expected the official '
            'results JSON {"results": {video_id: [{"segment", "score", '
            '"label"}]}}.')
    ids, video_index, segments, scores, labels = [], [], [], [], []
    label_index: Dict[str, int] = {}
    for v, (vid, dets) in enumerate(data['results'].items()):
        ids.append(vid)
        for det in dets:
            try:
                start, end = (float(x) for x in det['segment'])
                score = float(det['score'])
            except (KeyError, TypeError, ValueError) as e:
                raise EvaluationInputError(
                    f'{path}: video {vid!r} has a detection {det!r} '
                    'without a two-number "segment" and a "score".') from e
            if 'label' in det:
                labels.append(label_index.setdefault(det['label'],
                                                     len(label_index)))
            elif require_labels:
                raise EvaluationInputError(
                    f'{path}: video {vid!r} has a detection without '
                    '"label"; detection mAP needs one (or evaluate with '
                    '--proposals).')
            else:
                labels.append(-1)
            video_index.append(v)
            segments.append((start, end))
            scores.append(score)
    preds = Predictions(
        ids, np.asarray(video_index, dtype=np.int64),
        np.asarray(segments, dtype=np.float64).reshape(-1, 2),
        np.asarray(scores, dtype=np.float64), list(label_index),
        np.asarray(labels, dtype=np.int64))
    check_predictions(preds, path)
    return preds


def results_json(video_ids: Sequence[str], segments: Sequence[np.ndarray],
                 scores: Sequence[np.ndarray],
                 labels: Optional[Sequence[Sequence[str]]] = None) -> dict:
    """The official results JSON of per-video detections.

    Args:
        video_ids (Sequence[str]): Official ids (no ``v_``).
        segments (Sequence[np.ndarray]): Per video M x 2 seconds.
        scores (Sequence[np.ndarray]): Per video M.
        labels (Sequence[Sequence[str]], optional): Per video M names.

    Returns:
        dict: ``{'version', 'results', 'external_data'}``.
    """
    results = {}
    for i, vid in enumerate(video_ids):
        segs = np.asarray(segments[i], dtype=np.float64).reshape(-1, 2)
        dets = []
        for j, ((s, e), score) in enumerate(
                zip(segs.tolist(), np.asarray(scores[i]).tolist())):
            det = {'segment': [s, e], 'score': score}
            if labels is not None:
                det['label'] = labels[i][j]
            dets.append(det)
        results[vid] = dets
    return {'version': 'VERSION 1.3', 'results': results,
            'external_data': {}}


def file_mode() -> int:
    """The mode ``open(path, 'w')`` would give a new file: 0o666 less the
    process's umask (``mkstemp`` makes its files 0o600 instead)."""
    try:  # Linux: read without changing it (os.umask sets it).
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('Umask:'):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def write_json_atomic(path: str, data, **dump_kwargs) -> None:
    """Write ``data`` as JSON to a temporary file next to ``path``, then
    rename it there: an interrupted run never leaves half a file.

    (:func:`rcl_mm.utils.atomic_write` does the same, but needs mmengine;
    this module imports numpy only.)
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix='.tmp',
                               prefix=f'.{osp.basename(path)}.')
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            json.dump(data, f, **dump_kwargs)
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
