# Copyright (c) rcl_mm contributors. All rights reserved.
"""Annotation files of a user's own dataset, from their annotations and
the features of ``tools/data/extract_features.py``.

Input annotations: the ActivityNet JSON layout (``{"database": {video:
{"subset", "annotations": [{"segment": [s, e], "label"}]}}}``, the
official ``activity_net.v1-3.min.json`` and G-TAD's ``thumos_gt.json``
among them) or THUMOS14 csv files (``video,type,start,end``), read by
:func:`rcl_mm.datasets.thumos_annotations.load_thumos_annotations`. The
features' ``<video>.info.json`` files give each video's frames, frame
rate and snippets. Output: mmaction2's layout that
:class:`ActivityNetFeatureDataset` reads (``anet_anno_{train,val}.json``)
and the class list (``classes.json``).
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

from rcl_mm.utils.cli import UserValueError
from rcl_mm.utils.io import atomic_write
from .anet_annotations import SEGMENT_TOLERANCE, dumps_by_video
from .thumos_annotations import load_thumos_annotations

#: Suffix of the per-video information files of the feature folder.
INFO_SUFFIX = '.info.json'


def read_feature_infos(feature_dir: str,
                       feature_ext: str) -> Dict[str, dict]:
    """``{video: info}`` of the videos with a feature file and its info.

    Raises:
        UserValueError: A feature file without its info file, or a folder
            without any.
    """
    if not osp.isdir(feature_dir):
        raise UserValueError('no such feature folder', feature_dir,
                             'run tools/data/extract_features.py first')
    infos, missing_info = {}, []
    for name in sorted(os.listdir(feature_dir)):
        if not name.endswith(feature_ext) or name.startswith('.'):
            continue
        video = name[:-len(feature_ext)]
        info_file = osp.join(feature_dir, video + INFO_SUFFIX)
        if not osp.isfile(info_file):
            missing_info.append(video)
            continue
        with open(info_file, encoding='utf-8') as f:
            infos[video] = json.load(f)
    if missing_info:
        raise UserValueError(
            f'{len(missing_info)} feature file(s) without their '
            f'{INFO_SUFFIX} (e.g. {missing_info[0]})', feature_dir,
            'extract them with tools/data/extract_features.py, which '
            'writes both')
    if not infos:
        raise UserValueError(
            f'no {feature_ext} features in the folder', feature_dir,
            'run tools/data/extract_features.py (--format '
            f'{feature_ext.lstrip(".")}) or pass --feature-ext')
    return infos


def _feature_name(video: str, infos: Dict[str, dict]) -> Optional[str]:
    """The feature name of an annotated video: the same name, or with
    ActivityNet's ``v_`` prefix (its JSON names videos without it)."""
    for name in (video, 'v_' + video):
        if name in infos:
            return name
    return None


def convert_subset(annotations: Dict[str, List[dict]],
                   infos: Dict[str, dict], source: str,
                   tolerance: float = SEGMENT_TOLERANCE
                   ) -> Tuple[Dict[str, dict], List[str]]:
    """mmaction2-layout entries of one subset.

    Each video gets ``duration_second``, ``duration_frame`` (frames of
    the video), ``feature_frame`` (frames its snippets cover) and its
    instances.

    Returns:
        tuple: ``({feature name: entry}, problems)``; a problem is a video
        without features, or a segment past the video's end by more than
        ``tolerance`` seconds.
    """
    entries, problems = {}, []
    for video, instances in annotations.items():
        name = _feature_name(video, infos)
        if name is None:
            problems.append(f'{source} (video {video}): no features '
                            f'({video}.* or v_{video}.*) in the folder')
            continue
        info = infos[name]
        duration = float(info['duration_second'])
        for i, ann in enumerate(instances):
            start, end = ann['segment']
            if end > duration + tolerance:
                problems.append(
                    f'{source} (video {video}, instance {i}): segment '
                    f'[{start}, {end}] ends after the video '
                    f'({duration:.3f} s)')
        entries[name] = dict(
            duration_second=duration,
            duration_frame=int(info['num_frames']),
            feature_frame=int(info['feature_frame']),
            annotations=[dict(segment=[float(v) for v in a['segment']],
                              label=a['label']) for a in instances])
    return entries, problems


def prepare_custom_annotations(annotations: str, feature_dir: str,
                               out_dir: str,
                               val_annotations: Optional[str] = None,
                               train_subset: str = 'training',
                               val_subset: str = 'validation',
                               feature_ext: str = '.csv') -> dict:
    """Write ``anet_anno_train.json``, ``anet_anno_val.json`` and
    ``classes.json`` under ``out_dir`` (atomically).

    Args:
        annotations (str): ActivityNet-layout JSON (its ``train_subset``
            and ``val_subset`` videos) or a THUMOS csv (the training set).
        feature_dir (str): The folder of ``tools/data/extract_features.py``.
        out_dir (str): Where the files go.
        val_annotations (str, optional): The validation set as a separate
            file (required with a csv; a JSON's videos of ``val_subset``).
        train_subset (str): JSON subset of the training videos.
        val_subset (str): JSON subset of the validation videos.
        feature_ext (str): ``'.csv'`` or ``'.npy'``.

    Returns:
        dict: ``train`` / ``val`` (videos), ``classes``,
        ``ambiguous`` (instances labelled ``Ambiguous``, left out) and
        ``unused`` (videos with features but no annotation).

    Raises:
        UserValueError: Every problem at once: annotated videos without
            features, segments after the video's end, an empty subset.
    """
    infos = read_feature_infos(feature_dir, feature_ext)
    is_json = not annotations.endswith('.csv')
    if val_annotations is None and not is_json:
        raise UserValueError(
            'a THUMOS csv holds one subset', annotations,
            'pass the validation videos with --val-annotations')
    # A separate validation file is read whole; otherwise the JSON's
    # val_subset videos.
    sources = [('train', annotations, train_subset if is_json else None),
               ('val', val_annotations or annotations,
                val_subset if val_annotations is None else None)]
    subsets, problems, ambiguous = {}, [], 0
    for split, path, subset in sources:
        try:
            instances, ambiguous_instances = load_thumos_annotations(
                path, subset=subset)
        except ValueError as error:
            raise UserValueError(str(error)) from error
        ambiguous += sum(len(v) for v in ambiguous_instances.values())
        entries, found = convert_subset(instances, infos, path)
        problems += found
        subsets[split] = entries
    if problems:
        shown = '\n'.join(problems[:20])
        more = (f'\n... and {len(problems) - 20} more'
                if len(problems) > 20 else '')
        raise UserValueError(
            f'{len(problems)} problem(s) between the annotations and the '
            f'features in {feature_dir} (extract the missing videos or fix '
            f'the annotations):\n{shown}{more}')
    for split, entries in subsets.items():
        if split == 'train' and not any(e['annotations']
                                        for e in entries.values()):
            raise UserValueError(
                'no training video with an annotated instance', annotations,
                f'check the subset names (--train-subset {train_subset})')
    classes = sorted({a['label'] for entries in subsets.values()
                      for e in entries.values() for a in e['annotations']})
    for split, entries in subsets.items():
        with atomic_write(osp.join(out_dir, f'anet_anno_{split}.json')) as f:
            f.write(dumps_by_video(entries))
    with atomic_write(osp.join(out_dir, 'classes.json')) as f:
        json.dump(classes, f, indent=1)
    used = set(subsets['train']) | set(subsets['val'])
    return dict(train=sorted(subsets['train']), val=sorted(subsets['val']),
                classes=classes, ambiguous=ambiguous,
                unused=sorted(set(infos) - used))
