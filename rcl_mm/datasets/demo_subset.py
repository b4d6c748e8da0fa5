# Copyright (c) rcl_mm contributors. All rights reserved.
"""Choose the small real-annotation subset behind the demo dataset.

``data/demo/anet_anno_demo.json`` was made by
``tools/data/make_demo_subset.py`` with :func:`select_demo_subset` from
BSN's ``anet_anno_action.json`` and ``video_info_new.csv`` (ActivityNet
v1.3). The choice is deterministic: no random generator, only sorting.
"""
import csv
import hashlib
from typing import Any, Dict, List, Mapping

from .anet_annotations import check_video_info

#: Keys copied from the source annotation of each chosen video.
DEMO_KEYS = ('duration_second', 'duration_frame', 'feature_frame',
             'annotations')


def read_video_subsets(video_info_csv: str) -> Dict[str, str]:
    """Read the subset of every video from BSN's ``video_info_new.csv``.

    Args:
        video_info_csv (str): csv with (at least) columns ``video`` and
            ``subset``.

    Returns:
        dict[str, str]: ``{video_name: 'training' | 'validation' |
        'testing'}``.
    """
    with open(video_info_csv, encoding='utf-8', newline='') as f:
        reader = csv.DictReader(f)
        missing = {'video', 'subset'} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f'{video_info_csv}: missing column(s) '
                             f'{sorted(missing)}.')
        return {row['video']: row['subset'] for row in reader}


def is_demo_eligible(video_name: str, video_info: Mapping[str, Any],
                     max_frame_ratio_dev: float = 0.1) -> bool:
    """Whether a video is clean enough for the demo.

    A video qualifies when all its annotations pass
    :func:`rcl_mm.datasets.check_video_info` with zero tolerance (segments
    inside ``[0, duration_second]``, non-empty), it has one class and no
    duplicate instances, and its features cover the video:
    ``|feature_frame / duration_frame - 1| <= max_frame_ratio_dev``.

    Args:
        video_name (str): Key of the video.
        video_info (Mapping): Its mmaction2-layout entry.
        max_frame_ratio_dev (float): See above. Defaults to 0.1.

    Returns:
        bool: True if the video qualifies.
    """
    if check_video_info(video_name, video_info, tolerance=0.):
        return False
    instances = video_info['annotations']
    if len({a['label'] for a in instances}) != 1:
        return False
    keys = {(tuple(a['segment']), a['label']) for a in instances}
    if len(keys) != len(instances):
        return False
    ratio = video_info['feature_frame'] / video_info['duration_frame']
    return abs(ratio - 1.) <= max_frame_ratio_dev


def _rank(video_name: str) -> str:
    """A fixed pseudo-random order of videos, independent of the file."""
    return hashlib.sha1(video_name.encode('utf-8')).hexdigest()


def select_demo_subset(annotations: Mapping[str, Mapping[str, Any]],
                       subsets: Mapping[str, str],
                       num_train: int = 240,
                       num_val: int = 80,
                       num_classes: int = 20) -> Dict[str, Dict[str, Any]]:
    """Choose training and validation videos spread over classes.

    The classes of the eligible training videos (:func:`is_demo_eligible`)
    are sorted by name and ``num_classes`` of them taken at even spacing
    (indices ``i * n // num_classes``). Within a class, videos are ranked
    by the SHA-1 of their name; each subset then takes one video per class
    in turn (round robin) until it has its count, so classes get equal
    shares (12 training and 4 validation videos each by default). Twenty
    classes, not all 200, so that every class is seen often enough in
    training to be learnable.

    Args:
        annotations (Mapping): mmaction2-layout annotations of the videos.
        subsets (Mapping[str, str]): Subset per video, from
            :func:`read_video_subsets`.
        num_train (int): Training videos. Defaults to 240.
        num_val (int): Validation videos. Defaults to 80.
        num_classes (int): Classes. Defaults to 20.

    Returns:
        dict: ``{video_name: {duration_second, duration_frame,
        feature_frame, annotations, subset}}``, sorted by name.

    Raises:
        ValueError: If there are too few classes or eligible videos.
    """
    by_class: Dict[str, Dict[str, List[str]]] = {
        'training': {},
        'validation': {}
    }
    for name, info in annotations.items():
        subset = subsets.get(name)
        if subset in by_class and is_demo_eligible(name, info):
            label = info['annotations'][0]['label']
            by_class[subset].setdefault(label, []).append(name)
    classes = sorted(by_class['training'])
    if num_classes > len(classes):
        raise ValueError(f'Asked for {num_classes} classes; only '
                         f'{len(classes)} have eligible training videos.')
    chosen_classes = [
        classes[i * len(classes) // num_classes] for i in range(num_classes)
    ]
    chosen: Dict[str, Dict[str, Any]] = {}
    for subset, count in (('training', num_train), ('validation', num_val)):
        queues = [
            sorted(by_class[subset].get(label, []), key=_rank)
            for label in chosen_classes
        ]
        picked: List[str] = []
        depth = 0
        while len(picked) < count:
            row = [queue[depth] for queue in queues if depth < len(queue)]
            if not row:
                raise ValueError(f'Only {len(picked)} eligible {subset} '
                                 f'videos in the chosen classes; asked for '
                                 f'{count}.')
            picked.extend(row[:count - len(picked)])
            depth += 1
        for name in picked:
            entry = {key: annotations[name][key] for key in DEMO_KEYS}
            entry['subset'] = subset
            chosen[name] = entry
    return {name: chosen[name] for name in sorted(chosen)}
