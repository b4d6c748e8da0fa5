# Copyright (c) rcl_mm contributors. All rights reserved.
"""Ground truth and predictions as flat arrays, and their loading.

Two ground-truth layouts are read: the official ActivityNet one
(``{'database': {id: {'subset', 'duration', 'annotations'}}}``, also G-TAD's
THUMOS14 file whose segments are strings) and mmaction2's
(``{'v_<id>': {'duration_second', 'annotations'}}``). Predictions are the
official results JSON (``{'results': {id: [{'segment', 'score',
'label'}]}}``).

Files are parsed by orjson where it is installed (a runtime requirement;
faster than the standard library's json: docs/evaluation.md), else by
json; both give the same values, since both round numbers correctly. What
orjson refuses and json reads (NaN, Infinity, integers beyond 64 bits) is
read again by json, so that :func:`check_predictions` names the bad
detection. The detections then become arrays in a few passes
over the parsed lists, with the garbage collector paused.
"""
import contextlib
import gc
import importlib.util
import json
import os.path as osp
import sys
from dataclasses import dataclass, field
from itertools import chain
from typing import Dict, Iterator, List, Optional, Sequence

import numpy as np

try:
    import orjson
except ImportError:  # the standard library reads the same values, slower
    orjson = None


def _standalone_atomic_write():
    """:func:`rcl_mm.utils.io.atomic_write` (standard library only) loaded
    by its path: ``tools/analysis/eval_detection.py`` loads this package
    on its own, without importing rcl_mm (and torch)."""
    name = 'rcl_mm_utils_io'
    module = sys.modules.get(name)
    if module is None:
        package = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
        spec = importlib.util.spec_from_file_location(
            name, osp.join(package, 'utils', 'io.py'))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    return module.atomic_write


try:
    from ...utils.io import atomic_write
except ImportError:  # loaded outside the rcl_mm package
    atomic_write = _standalone_atomic_write()

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


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The garbage collector off for the block, back as it was after it.

    Parsing a results file makes a million dicts and lists, none of them
    garbage; the collector would walk them again at every generation
    threshold (docs/evaluation.md, "How predictions are read"). On the
    way out they join the oldest generation unscanned (``freeze`` then
    ``unfreeze``): otherwise the first allocation after the collector is
    back would walk all of them once as the youngest generation.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.unfreeze()
        if enabled:
            gc.enable()


def parse_json(text: bytes, path: str):
    """Parse a JSON file's bytes: orjson, or json where orjson is missing
    or refuses the text (NaN, Infinity, integers beyond 64 bits, a byte
    order mark), so both read the same files.

    Args:
        text (bytes): The file's content.
        path (str): File name for messages.

    Returns:
        The parsed value.

    Raises:
        EvaluationInputError: The text is not JSON (a truncated file).
    """
    with gc_paused():
        if orjson is not None:
            try:
                return orjson.loads(text)
            except orjson.JSONDecodeError:
                pass  # json says why, or reads what orjson does not
        try:
            return json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise EvaluationInputError(
                f'{path} is not valid JSON ({e}): the file may be '
                'truncated; write it again') from e


def _load_json(path: str, what: str = 'ground truth'):
    return parse_json(_read_bytes(path, what), path)


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


def load_predictions(path: str, require_labels: bool = False
                     ) -> Predictions:
    """Read the official results JSON.

    Args:
        path (str): ``{'results': {video_id: [{'segment': [s, e],
            'score': x, 'label': name}]}}``.
        require_labels (bool): Raise if a detection has no label.

    Returns:
        Predictions: In file order (the order the official code sorts in).
    """
    text = _read_bytes(path, 'results')
    with gc_paused():
        data = parse_json(text, path)
        return predictions_from_results(data, path, require_labels)


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
    with gc_paused():
        preds = _flat_predictions(data['results'])
        if preds is None:
            # A malformed detection: the loop names it.
            preds = _predictions_one_by_one(data['results'], path)
    if require_labels and (preds.labels < 0).any():
        i, v, position, more = preds.first_flagged(preds.labels < 0)
        raise EvaluationInputError(
            f'{path}: detections have no "label" (video '
            f'{preds.video_ids[v]!r}, detection {position}{more}); '
            'detection mAP needs one per detection (or evaluate with '
            '--proposals).')
    check_predictions(preds, path)
    return preds


# Label of a detection without one (no JSON value is this object).
_NO_LABEL = object()


def _flat_predictions(results: dict) -> Optional[Predictions]:
    """:class:`Predictions` of well-formed results in a few passes over
    flat lists; None if a detection is not a dict with a two-item
    ``segment`` and a ``score`` that ``float`` takes (then
    :func:`_predictions_one_by_one` names it).

    Numbers go through ``float`` as in the loop, so both accept the same
    values (numeric strings included) and give the same float64.
    """
    per_video = list(results.values())
    if not all(type(dets) is list for dets in per_video):
        return None
    dets = list(chain.from_iterable(per_video))
    n = len(dets)
    try:
        segments = [det['segment'] for det in dets]
        scores = np.fromiter(map(float, [det['score'] for det in dets]),
                             np.float64, n)
        if list(map(len, segments)).count(2) != n:
            return None
        segments = np.fromiter(map(float, chain.from_iterable(segments)),
                               np.float64, 2 * n).reshape(n, 2)
        names = [det.get('label', _NO_LABEL) for det in dets]
        # Labels numbered in order of first appearance, as the loop does.
        index = dict.fromkeys(names)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    index.pop(_NO_LABEL, None)
    lookup = {name: i for i, name in enumerate(index)}
    lookup[_NO_LABEL] = -1
    return Predictions(
        list(results),
        np.repeat(np.arange(len(per_video), dtype=np.int64),
                  [len(d) for d in per_video]),
        segments, scores, list(index),
        np.fromiter(map(lookup.__getitem__, names), np.int64, n))


def _predictions_one_by_one(results: dict, path: str) -> Predictions:
    """:class:`Predictions` detection by detection, raising at the first
    malformed one with its video and content."""
    ids, video_index, segments, scores, labels = [], [], [], [], []
    label_index: Dict[str, int] = {}
    for v, (vid, dets) in enumerate(results.items()):
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
            else:
                labels.append(-1)
            video_index.append(v)
            segments.append((start, end))
            scores.append(score)
    return Predictions(
        ids, np.asarray(video_index, dtype=np.int64),
        np.asarray(segments, dtype=np.float64).reshape(-1, 2),
        np.asarray(scores, dtype=np.float64), list(label_index),
        np.asarray(labels, dtype=np.int64))


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
    with gc_paused():
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


def write_json_atomic(path: str, data, **dump_kwargs) -> None:
    """Write ``data`` as JSON (``json.dump`` with ``dump_kwargs``) through
    :func:`rcl_mm.utils.io.atomic_write`: an interrupted run never leaves
    half a file."""
    with atomic_write(path) as f:
        json.dump(data, f, **dump_kwargs)
