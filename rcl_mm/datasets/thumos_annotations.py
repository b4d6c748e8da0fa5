# Copyright (c) rcl_mm contributors. All rights reserved.
"""THUMOS14 annotations and sliding windows over snippet features.

Conventions (the same as the ActivityNet path, see
:func:`rcl_mm.datasets.transforms.resize_feature`): snippet ``t`` of a video
covers ``[t * snippet_seconds, (t + 1) * snippet_seconds)`` seconds, so a
time of ``x`` seconds is the snippet-edge position ``x / snippet_seconds``
and a window starting at snippet ``w`` maps its position ``p`` (in
snippets, 0 .. T_s) back to ``(w + p) * snippet_seconds`` seconds.

Windows (:func:`window_starts`): full windows of ``window_size`` snippets
every ``stride`` snippets from snippet 0, and, when they leave a tail, one
more full window aligned to the end of the video; a video shorter than one
window gets a single window at 0, zero-padded at the end. Every snippet is
in at least one window, and no window but a short video's holds padding.

Training windows (:func:`training_window_mask`, the rule of G-TAD's and
BSN's THUMOS data loaders): a window is kept if at least one instance has
at least ``min_inside`` (0.9) of its length inside the window; its ground
truth is every instance that overlaps the window, clipped to it.

Ambiguous instances: THUMOS14 marks 99 test and 89 validation instances as
``Ambiguous`` (class id 0). They are not one of the 20 classes and have no
class in the evaluation file (G-TAD's ``thumos_gt.json``), so they are
neither training targets nor evaluation ground truth (as in that file).
They are returned apart (``ambiguous``) so that callers can report them.
"""
import csv
import math
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .anet_annotations import load_json_strict

#: The label of THUMOS14's ambiguous instances.
AMBIGUOUS = 'Ambiguous'
#: Columns a THUMOS14 annotation csv must have.
CSV_COLUMNS = ('video', 'type', 'start', 'end')

# video name -> [{'segment': [start, end], 'label': name}] in file order.
VideoAnnotations = Dict[str, List[Dict[str, Any]]]


def load_thumos_annotations(
        path: str,
        subset: Optional[str] = None,
        class_names: Optional[Sequence[str]] = None
) -> Tuple[VideoAnnotations, VideoAnnotations]:
    """Read THUMOS14 annotations from a csv or an ActivityNet-layout JSON.

    * csv (``val_Annotation.csv``, ``test_Annotation.csv``): columns
      ``video,type,start,end`` (others ignored), one instance per row.
    * JSON in the ActivityNet layout (``{'database': {video: {'subset',
      'annotations': [{'segment', 'label'}]}}}``, e.g. G-TAD's
      ``thumos_gt.json``); segments may be strings. ``subset`` selects the
      videos (``'test'`` or ``'train'`` in that file).

    Args:
        path (str): The file.
        subset (str, optional): JSON only: keep videos of this subset.
        class_names (Sequence[str], optional): Known classes; other labels
            (except ``Ambiguous``) are errors.

    Returns:
        tuple[dict, dict]: ``(annotations, ambiguous)``: per video the
        instances of the 20 classes and the ambiguous ones, each
        ``{'segment': [start, end], 'label': name}`` in seconds. Every
        video of the file is a key of both (possibly with an empty list).

    Raises:
        FileNotFoundError: If the file is missing.
        ValueError: For a malformed file, a missing column, a segment that
            is not two numbers with ``0 <= start < end``, or an unknown
            label; every problem is listed with the video and row.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'THUMOS14 annotation file {path} does '
                                'not exist.')
    if path.endswith('.csv'):
        rows = _csv_rows(path)
    else:
        if subset is not None and not isinstance(subset, str):
            raise ValueError(f'subset must be a string, got {subset!r}.')
        rows = _json_rows(path, subset)
    known = None if class_names is None else set(class_names)
    annotations: VideoAnnotations = {}
    ambiguous: VideoAnnotations = {}
    problems = []
    for where, video, label, start, end in rows:
        annotations.setdefault(video, [])
        ambiguous.setdefault(video, [])
        if label is None and start is None and end is None:
            continue
        if not isinstance(label, str) or not label:
            problems.append(f'{where} (video {video}): no label')
            continue
        try:
            start, end = float(start), float(end)
        except (TypeError, ValueError):
            problems.append(f'{where} (video {video}): segment '
                            f'[{start!r}, {end!r}] is not two numbers')
            continue
        if not (math.isfinite(start) and math.isfinite(end)
                and 0 <= start < end):
            problems.append(f'{where} (video {video}): segment '
                            f'[{start}, {end}] needs 0 <= start < end')
            continue
        entry = dict(segment=[start, end], label=label)
        if label == AMBIGUOUS:
            ambiguous[video].append(entry)
        elif known is not None and label not in known:
            problems.append(f'{where} (video {video}): unknown label '
                            f'{label!r}')
        else:
            annotations[video].append(entry)
    if problems:
        shown = '\n  '.join(problems[:20])
        more = (f'\n  ... and {len(problems) - 20} more'
                if len(problems) > 20 else '')
        raise ValueError(f'{path}: {len(problems)} invalid annotation(s):'
                         f'\n  {shown}{more}\nPlease fix the file.')
    if not annotations:
        raise ValueError(f'{path}: no video' +
                         (f' of subset {subset!r}' if subset else '') +
                         ' in the file.')
    return annotations, ambiguous


def _csv_rows(path: str) -> List[Tuple[str, str, str, Any, Any]]:
    with open(path, newline='') as f:
        reader = csv.DictReader(f)
        missing = [c for c in CSV_COLUMNS
                   if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(
                f'{path}: missing column(s) {missing}; a THUMOS14 '
                f'annotation csv has a header with {list(CSV_COLUMNS)}.')
        return [(f'{path} row {i + 2}', r['video'], r['type'], r['start'],
                 r['end']) for i, r in enumerate(reader)]


def _json_rows(path: str,
               subset: Optional[str]) -> List[Tuple[str, str, str, Any,
                                                    Any]]:
    data = load_json_strict(path)
    database = data.get('database') if isinstance(data, dict) else None
    if not isinstance(database, dict):
        raise ValueError(f'{path}: expected the ActivityNet layout '
                         '{"database": {video: {"subset", "annotations"}}}.')
    rows = []
    for video, info in database.items():
        if subset is not None and info.get('subset') != subset:
            continue
        annotations = info.get('annotations')
        if not isinstance(annotations, list):
            raise ValueError(f'{path}: video {video} has no "annotations" '
                             'list.')
        if not annotations:
            # A video without instances: listed, nothing to read.
            rows.append((path, video, None, None, None))
        for i, ann in enumerate(annotations):
            segment = ann.get('segment') if isinstance(ann, dict) else None
            if not isinstance(segment, (list, tuple)) or len(segment) != 2:
                segment = (segment, None)
            rows.append((f'{path} instance {i}', video, ann.get('label'),
                         segment[0], segment[1]))
    return rows


def window_starts(num_snippets: int, window_size: int,
                  stride: int) -> np.ndarray:
    """Start snippets of windows that cover every snippet of a video.

    Full windows at ``0, stride, 2 * stride, ...`` while they fit, then one
    aligned to the end of the video if the last one ends before it; a
    video of at most ``window_size`` snippets gets one window at 0 (the
    caller pads it). E.g. 600 snippets, windows of 256 every 192:
    ``[0, 192, 344]``; 512 snippets every 256: ``[0, 256]``.

    Args:
        num_snippets (int): Snippets of the video, >= 1.
        window_size (int): ``T_s``.
        stride (int): ``T_s - overlap``, 1 .. ``window_size``.

    Returns:
        np.ndarray: int64 starts, increasing.
    """
    if num_snippets < 1:
        raise ValueError(f'num_snippets must be >= 1, got {num_snippets}.')
    if not 1 <= stride <= window_size:
        raise ValueError(f'stride must be in [1, window_size='
                         f'{window_size}], got {stride} (overlap = '
                         'window_size - stride must be in [0, '
                         'window_size - 1]).')
    if num_snippets <= window_size:
        return np.zeros(1, dtype=np.int64)
    last = num_snippets - window_size
    starts = np.arange(0, last + 1, stride, dtype=np.int64)
    if starts[-1] != last:
        starts = np.append(starts, last)
    return starts


def segments_to_snippets(segments: np.ndarray,
                         snippet_seconds: float) -> np.ndarray:
    """Seconds to snippet-edge positions: ``x / snippet_seconds``."""
    return np.asarray(segments, dtype=np.float64).reshape(-1, 2) / \
        snippet_seconds


def training_window_mask(starts: np.ndarray, segments: np.ndarray,
                         window_size: int,
                         min_inside: float = 0.9) -> np.ndarray:
    """Which windows hold an instance with ``min_inside`` of it inside.

    Args:
        starts (np.ndarray): W window starts (snippets).
        segments (np.ndarray): G x 2 instances in snippets.
        window_size (int): ``T_s``.
        min_inside (float): Fraction of an instance's length that must lie
            in the window, in (0, 1].

    Returns:
        np.ndarray: W bools.
    """
    if not 0 < min_inside <= 1:
        raise ValueError(f'min_inside must be in (0, 1], got {min_inside}.')
    inside = _inside(starts, segments, window_size)
    length = segments[:, 1] - segments[:, 0]
    # A tiny tolerance: an instance exactly at the window's edges counts.
    return (inside >= min_inside * length[None] - 1e-9).any(axis=1)


def _inside(starts: np.ndarray, segments: np.ndarray,
            window_size: int) -> np.ndarray:
    """W x G length of each instance inside each window (snippets)."""
    starts = np.asarray(starts, dtype=np.float64)[:, None]
    segments = np.asarray(segments, dtype=np.float64).reshape(-1, 2)
    return np.clip(
        np.minimum(segments[None, :, 1], starts + window_size) -
        np.maximum(segments[None, :, 0], starts), 0, None)


def window_ground_truth(start: int, segments: np.ndarray,
                        window_size: int) -> np.ndarray:
    """Instances overlapping a window, clipped, normalised to the window.

    Args:
        start (int): Window start (snippets).
        segments (np.ndarray): G x 2 instances in snippets.
        window_size (int): ``T_s``.

    Returns:
        np.ndarray: G' x 2 float32 in [0, 1]: ``(x - start) / T_s``.
    """
    segments = np.asarray(segments, dtype=np.float64).reshape(-1, 2)
    overlap = _inside(np.array([start]), segments, window_size)[0] > 0
    local = np.clip((segments[overlap] - start) / window_size, 0., 1.)
    return local.astype(np.float32)
