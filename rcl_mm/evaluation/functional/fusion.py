# Copyright (c) rcl_mm contributors. All rights reserved.
"""Classifier fusion: video-level class scores turn class-agnostic
proposals into labelled detections (score = proposal score x class score,
for the top-k classes of the video), as BMN / G-TAD do."""
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .io import strip_video_prefix

# THUMOS14's 20 detection classes -> UCF101 class id (1-based), the column
# + 1 of UntrimmedNet's THUMOS scores (the ``type_idx`` of THUMOS14's
# test_Annotation.csv).
THUMOS14_UCF101_ID = {
    'BaseballPitch': 7, 'BasketballDunk': 9, 'Billiards': 12,
    'CleanAndJerk': 21, 'CliffDiving': 22, 'CricketBowling': 23,
    'CricketShot': 24, 'Diving': 26, 'FrisbeeCatch': 31, 'GolfSwing': 33,
    'HammerThrow': 36, 'HighJump': 40, 'JavelinThrow': 45, 'LongJump': 51,
    'PoleVault': 68, 'Shotput': 79, 'SoccerPenalty': 85,
    'TennisSwing': 92, 'ThrowDiscus': 93, 'VolleyballSpiking': 97
}


class ClassScores:
    """Video-level class scores over a fixed list of classes.

    Args:
        class_names (list[str]): The C classes (columns).
        scores (dict[str, np.ndarray]): Official video id -> C scores.
        source (str): File name for messages.
    """

    def __init__(self, class_names: List[str], scores: Dict[str,
                                                          np.ndarray],
                 source: str = '<class scores>'):
        self.class_names = list(class_names)
        self.scores = scores
        self.source = source

    def __call__(self, video_id: str) -> np.ndarray:
        """C scores of a video (official id or ``v_<id>``)."""
        vid = strip_video_prefix(video_id) \
            if video_id not in self.scores else video_id
        if vid not in self.scores:
            raise KeyError(
                f'{self.source} has no class scores for video '
                f'{video_id!r}; give scores for every evaluated video.')
        return self.scores[vid]


def load_class_scores(path: str, fmt: str = 'auto',
                      class_names: Optional[Sequence[str]] = None,
                      video_ids: Optional[Sequence[str]] = None
                      ) -> ClassScores:
    """Read video-level class scores.

    Args:
        path (str): The file.
        fmt (str): ``'activitynet'`` (the official classification results:
            ``{'results': {id: [{'label', 'score'}]}}``), ``'cuhk'``
            (``{'class': [names], 'results': {id: [C scores]}}``),
            ``'thumos_npy'`` (UntrimmedNet's V x 101 array: row
            ``int(id[-4:]) - 1``, column UCF101 id - 1) or ``'auto'``
            (by extension and keys).
        class_names (Sequence[str], optional): The classes to keep, in
            this order; required for ``'thumos_npy'`` (default: the 20
            THUMOS14 classes), else the file's classes.
        video_ids (Sequence[str], optional): ``'thumos_npy'`` only: the
            videos to read (``video_test_0000004``...).

    Returns:
        ClassScores: Callable ``video_id -> C scores``.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'Class score file {path} does not exist.')
    if fmt == 'auto':
        fmt = 'thumos_npy' if path.endswith('.npy') else None
    if fmt == 'thumos_npy':
        return _thumos_npy(path, class_names, video_ids)
    with open(path) as f:
        data = json.load(f)
    if fmt is None:
        fmt = 'cuhk' if 'class' in data else 'activitynet'
    results = data.get('results')
    if not isinstance(results, dict):
        raise ValueError(f'{path} has no "results" object of videos.')
    if fmt == 'cuhk':
        names = list(data.get('class') or [])
        scores = {}
        for vid, row in results.items():
            row = np.asarray(row, dtype=np.float64)
            if row.shape != (len(names), ):
                raise ValueError(
                    f'{path}: video {vid!r} has {row.size} scores for '
                    f'{len(names)} classes in "class".')
            scores[strip_video_prefix(vid)] = row
    elif fmt == 'activitynet':
        names = list(dict.fromkeys(
            e['label'] for entries in results.values() for e in entries))
        index = {n: i for i, n in enumerate(names)}
        scores = {}
        for vid, entries in results.items():
            row = np.zeros(len(names))
            for e in entries:
                row[index[e['label']]] = float(e['score'])
            scores[strip_video_prefix(vid)] = row
    else:
        raise ValueError(f'Unknown class score format {fmt!r}: use '
                         '"activitynet", "cuhk", "thumos_npy" or "auto".')
    if class_names is not None:
        missing = [c for c in class_names if c not in names]
        if missing:
            raise ValueError(f'{path} has no scores for classes {missing}.')
        cols = [names.index(c) for c in class_names]
        scores = {v: s[cols] for v, s in scores.items()}
        names = list(class_names)
    return ClassScores(names, scores, path)


def _thumos_npy(path, class_names, video_ids) -> ClassScores:
    table = np.load(path)
    if table.ndim != 2 or table.shape[1] != 101:
        raise ValueError(f'{path}: expected UntrimmedNet scores V x 101 '
                         f'(UCF101 classes), got {table.shape}.')
    names = list(class_names or THUMOS14_UCF101_ID)
    unknown = [c for c in names if c not in THUMOS14_UCF101_ID]
    if unknown:
        raise ValueError(f'{unknown} are not THUMOS14 detection classes.')
    cols = [THUMOS14_UCF101_ID[c] - 1 for c in names]
    if video_ids is None:
        raise ValueError('thumos_npy class scores need the video ids.')
    scores = {}
    for vid in video_ids:
        try:
            row = int(vid[-4:]) - 1
        except ValueError:
            raise ValueError(f'Video {vid!r} does not end in a 4-digit '
                             f'number, the row of {path}.') from None
        if not 0 <= row < len(table):
            raise ValueError(f'Video {vid!r}: row {row} is outside '
                             f'{path} ({len(table)} rows).')
        scores[vid] = table[row, cols].astype(np.float64)
    return ClassScores(names, scores, path)


def fuse_class_scores(segments: np.ndarray, scores: np.ndarray,
                      class_scores: np.ndarray, top_k: int = 2
                      ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Label proposals with the video's top-k classes.

    Args:
        segments (np.ndarray): M x 2 proposals.
        scores (np.ndarray): M proposal scores.
        class_scores (np.ndarray): C video-level class scores.
        top_k (int): Classes per proposal.

    Returns:
        tuple[np.ndarray]: ``segments`` (k*M x 2), ``scores`` (k*M,
        proposal score x class score) and ``labels`` (k*M class indices),
        class by class.
    """
    class_scores = np.asarray(class_scores, dtype=np.float64)
    top = np.argsort(-class_scores, kind='stable')[:top_k]
    k = len(top)
    segments = np.asarray(segments, dtype=np.float64).reshape(-1, 2)
    scores = np.asarray(scores, dtype=np.float64)
    fused = (class_scores[top][:, None] * scores[None, :]).reshape(-1)
    return (np.tile(segments, (k, 1)), fused,
            np.repeat(top, len(scores)).astype(np.int64))
