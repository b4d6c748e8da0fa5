# Copyright (c) rcl_mm contributors. All rights reserved.
"""Helpers for ActivityNet-style annotation files.

Two layouts are in use:

* mmaction2's (BSN's) training layout, one entry per video::

    {"v_<id>": {"duration_second": 82.73, "duration_frame": 2067,
                "feature_frame": 2064,
                "annotations": [{"segment": [6.2, 77.7],
                                 "label": "Ballet"}]}}

* the official ActivityNet ground-truth layout used for evaluation::

    {"version": "VERSION 1.3", "taxonomy": [],
     "database": {"<id>": {"subset": "validation", "duration": 82.73,
                           "annotations": [{"segment": [6.2, 77.7],
                                            "label": "Ballet"}]}}}

The functions here read and check the first layout, turn it into the
second, and write JSON atomically. They are plain Python / numpy so that
datasets, tools and evaluation can share them.
"""
import json
import math
import numbers
import os
import os.path as osp
from typing import (Any, Dict, Iterator, List, Mapping, Optional, Sequence,
                    Tuple, Union)

from mmengine.fileio import exists, get_text

from rcl_mm.utils.io import atomic_write  # noqa: F401  (re-exported)

#: Keys every video entry of the mmaction2 layout must have.
REQUIRED_VIDEO_KEYS = ('duration_second', 'duration_frame', 'feature_frame',
                       'annotations')

#: Default tolerance (seconds) for segment ends beyond ``duration_second``.
#: Real ActivityNet v1.3 annotations overrun the video duration by up to
#: 0.85 s in 215 of 22,152 train/val instances (durations were rounded when
#: the metadata was written), so a stricter default would reject the
#: official data. mmaction2's ``GenerateLocalizationLabels`` clips the
#: normalised segment to [0, 1] anyway.
SEGMENT_TOLERANCE = 1.0

# One problem found in a video: the instance index (None for the whole
# video) and a message.
Problem = Tuple[Optional[int], str]


def _reject_duplicate_keys(pairs: List[Tuple[str, Any]]) -> dict:
    """``object_pairs_hook`` for ``json.loads`` that refuses duplicate keys.

    The json module keeps the last of two equal keys, which would drop a
    video silently.
    """
    result = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f'duplicate key "{key}"')
        result[key] = value
    return result


def load_json_strict(path: str,
                     backend_args: Optional[dict] = None) -> Any:
    """Load a JSON file, naming the file in every error.

    Args:
        path (str): Path (or URI understood by mmengine's file backends).
        backend_args (dict, optional): mmengine file backend arguments.

    Returns:
        Any: The decoded JSON document.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is not valid JSON or repeats a key.
    """
    if not exists(path, backend_args=backend_args):
        raise FileNotFoundError(
            f'Annotation file {path} does not exist; check ann_file '
            '(and data_root) in the config.')
    text = get_text(path, backend_args=backend_args)
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicate_keys)
    except json.JSONDecodeError as error:
        # json's messages end in "at" for some errors ("Unterminated
        # string starting at"): the position follows without a second one.
        at = '' if error.msg.endswith(' at') else ' at'
        raise ValueError(
            f'Annotation file {path} is not valid JSON: {error.msg}{at} '
            f'line {error.lineno}, column {error.colno}; the file may be '
            'truncated: copy or generate it again.') from error
    except ValueError as error:
        raise ValueError(
            f'Annotation file {path} is not valid: {error}; every video '
            'and key must appear once.') from error


def load_class_names(
        class_names: Union[str, Sequence[str]]) -> List[str]:
    """Read a class list given as a sequence or as a file.

    Args:
        class_names (str | Sequence[str]): The names, or a path to a
            ``.json`` file holding a list of names, or to a text file with
            one name per line (blank lines are skipped).

    Returns:
        list[str]: The class names, in the given order.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the list is empty, has duplicates or non-strings.
    """
    source = 'class_names'
    if isinstance(class_names, (str, os.PathLike)):
        source = str(class_names)
        if not osp.isfile(source):
            raise FileNotFoundError(
                f'Class list file {source} does not exist; class_names '
                'must be a list of names or the path to a .json list or a '
                'text file with one name per line.')
        if source.endswith('.json'):
            names = load_json_strict(source)
        else:
            with open(source, encoding='utf-8') as f:
                names = [line.strip() for line in f if line.strip()]
    else:
        names = class_names
    if not isinstance(names, (list, tuple)) or not names:
        raise ValueError(f'{source}: expected a non-empty list of class '
                         f'names, got {type(names).__name__}.')
    bad = [name for name in names if not isinstance(name, str) or not name]
    if bad:
        raise ValueError(f'{source}: class names must be non-empty strings, '
                         f'got {bad[:5]}.')
    seen, duplicates = set(), []
    for name in names:
        if name in seen:
            duplicates.append(name)
        seen.add(name)
    if duplicates:
        raise ValueError(f'{source}: duplicate class names {duplicates[:5]}.')
    return list(names)


def _is_real(value: Any) -> bool:
    """Whether ``value`` is a finite real number (bools excluded)."""
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value))


def check_video_info(video_name: str,
                     video_info: Any,
                     *,
                     test_mode: bool = False,
                     tolerance: float = SEGMENT_TOLERANCE,
                     class_names: Optional[Sequence[str]] = None
                     ) -> List[Problem]:
    """List every problem of one video entry of the mmaction2 layout.

    Checks: the entry is a dict with :data:`REQUIRED_VIDEO_KEYS`; the
    durations and frame counts are positive finite numbers; the annotation
    list is non-empty unless ``test_mode``; each instance is a dict with a
    ``segment`` of two finite numbers and a non-empty string ``label``;
    ``0 <= start < end <= duration_second + tolerance``; the label is in
    ``class_names`` when given.

    Args:
        video_name (str): Key of the video, used in messages.
        video_info (Any): The value stored under ``video_name``.
        test_mode (bool): Allow an empty annotation list (test videos have
            no ground truth). Defaults to False.
        tolerance (float): Seconds a segment end may exceed
            ``duration_second``. Defaults to :data:`SEGMENT_TOLERANCE`.
        class_names (Sequence[str], optional): Allowed labels; None allows
            any non-empty string.

    Returns:
        list[tuple[int | None, str]]: ``(instance index, message)`` pairs;
        the index is None for problems of the whole video. Empty when the
        entry is valid.
    """
    if not isinstance(video_info, dict):
        return [(None, f'expected a dict, got {type(video_info).__name__}')]
    missing = [key for key in REQUIRED_VIDEO_KEYS if key not in video_info]
    if missing:
        return [(None, f'missing key(s) {missing}')]
    problems: List[Problem] = []
    for key in REQUIRED_VIDEO_KEYS[:3]:
        value = video_info[key]
        if not _is_real(value) or value <= 0:
            problems.append(
                (None, f'{key} must be a positive number, got {value!r}'))
    annotations = video_info['annotations']
    if not isinstance(annotations, list):
        problems.append((None, 'annotations must be a list, got '
                         f'{type(annotations).__name__}'))
        return problems
    if not annotations and not test_mode:
        problems.append(
            (None, 'empty annotation list in a training set (test_mode='
             'False); remove the video or give it annotations'))
    if problems:
        return problems
    duration = float(video_info['duration_second'])
    allowed = set(class_names) if class_names is not None else None
    for index, instance in enumerate(annotations):
        problems.extend(
            (index, message) for message in _check_instance(
                instance, duration, tolerance, allowed))
    return problems


def _check_instance(instance: Any, duration: float, tolerance: float,
                    allowed: Optional[set]) -> Iterator[str]:
    """Yield the problems of one annotation instance."""
    if not isinstance(instance, dict):
        yield f'expected a dict, got {type(instance).__name__}'
        return
    missing = [key for key in ('segment', 'label') if key not in instance]
    if missing:
        yield f'missing key(s) {missing}'
        return
    segment, label = instance['segment'], instance['label']
    if (not isinstance(segment, (list, tuple)) or len(segment) != 2
            or not all(_is_real(value) for value in segment)):
        yield f'segment must be two finite numbers, got {segment!r}'
    else:
        start, end = segment
        if end <= start:
            kind = 'zero-length' if end == start else 'inverted'
            yield (f'segment [{start}, {end}] is {kind} (end <= start)')
        if start < 0:
            yield f'segment [{start}, {end}] starts before 0'
        if end > duration + tolerance:
            yield (f'segment [{start}, {end}] ends after duration_second '
                   f'{duration} (+ tolerance {tolerance} s)')
    if not isinstance(label, str) or not label:
        yield f'label must be a non-empty string, got {label!r}'
    elif allowed is not None and label not in allowed:
        yield (f'unknown label "{label}" (not in class_names); fix the '
               'label or add it to the class list')


def format_problems(source: str, problems: Mapping[str, List[Problem]],
                    limit: int = 20) -> str:
    """Format problems per video as one readable message.

    Args:
        source (str): The annotation file, named in the first line.
        problems (Mapping[str, list]): Problems per video name, as returned
            by :func:`check_video_info`.
        limit (int): At most this many lines are listed. Defaults to 20.

    Returns:
        str: The message.
    """
    lines = []
    for video_name, video_problems in problems.items():
        for index, message in video_problems:
            where = 'video' if index is None else f'instance {index}'
            lines.append(f'  {video_name} {where}: {message}')
    count = len(lines)
    if count > limit:
        lines = lines[:limit] + [f'  ... and {count - limit} more']
    return (f'{source}: {count} invalid annotation(s) in {len(problems)} '
            'video(s):\n' + '\n'.join(lines))


def corrected_duration(video_info: Mapping[str, Any]) -> float:
    """Seconds covered by the features of a video.

    The same rule as mmaction2's ``GenerateLocalizationLabels``: features
    cover ``feature_frame`` of the ``duration_frame`` frames.

    Args:
        video_info (Mapping): An entry of the mmaction2 layout.

    Returns:
        float: ``feature_frame / duration_frame * duration_second``.
    """
    return (float(video_info['feature_frame']) /
            float(video_info['duration_frame']) *
            float(video_info['duration_second']))


def to_activitynet_gt(annotations: Mapping[str, Mapping[str, Any]],
                      subset: str = 'validation') -> Dict[str, Any]:
    """Turn mmaction2-layout annotations into the official GT layout.

    Args:
        annotations (Mapping): ``{"v_<id>": video_info}`` entries.
        subset (str): The ``subset`` written for every video. Defaults to
            ``'validation'``.

    Returns:
        dict: ``{"version": "VERSION 1.3", "taxonomy": [], "database":
        {"<id>": {"subset", "duration", "annotations"}}}``; the ``v_``
        prefix is removed from the video names.
    """
    database = {}
    for video_name in sorted(annotations):
        info = annotations[video_name]
        video_id = video_name[2:] if video_name.startswith('v_') else (
            video_name)
        database[video_id] = dict(
            subset=subset,
            duration=info['duration_second'],
            annotations=[
                dict(segment=list(a['segment']), label=a['label'])
                for a in info['annotations']
            ])
    return dict(version='VERSION 1.3', taxonomy=[], database=database)


def dumps_by_video(mapping: Mapping[str, Any]) -> str:
    """Serialise a ``{key: value}`` dict as JSON, one key per line.

    Keys are sorted, so the same mapping always gives the same text, and a
    diff of two versions shows the changed videos.

    Args:
        mapping (Mapping[str, Any]): JSON-serialisable values.

    Returns:
        str: The JSON text, ending with a newline.
    """
    lines = [
        f'{json.dumps(key)}: {json.dumps(mapping[key], sort_keys=True)}'
        for key in sorted(mapping)
    ]
    return '{\n' + ',\n'.join(lines) + '\n}\n'
