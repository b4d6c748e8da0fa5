# Copyright (c) rcl_mm contributors. All rights reserved.
"""THUMOS14 snippet features in sliding windows (one window per item)."""
import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.logging import MMLogger

from rcl_mm.registry import DATASETS
from .anet_annotations import load_class_names, load_json_strict
from .thumos_annotations import (load_thumos_annotations,
                                 segments_to_snippets, training_window_mask,
                                 window_ground_truth, window_starts)

FEATURE_EXTS = ('.csv', '.npy')


def count_snippets(path: str) -> int:
    """Rows ``T`` of a ``T x C`` feature file without reading the values.

    ``.npy``: the array header (memory-mapped); ``.csv``: lines after the
    header row.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'Feature file {path} does not exist; check data_prefix and '
            'feature_ext, or give num_snippets in video_info_file.')
    if path.endswith('.npy'):
        return int(np.load(path, mmap_mode='r').shape[0])
    with open(path, 'rb') as f:
        lines = sum(1 for line in f if line.strip())
    return max(lines - 1, 0)


@DATASETS.register_module()
class ThumosFeatureDataset(BaseDataset):
    """THUMOS14 features, cut into windows of ``window_size`` snippets.

    Each item is one window of one video (see
    :mod:`rcl_mm.datasets.thumos_annotations` for the window and training
    rules and the snippet convention). Its dict holds ``video_name``,
    ``feature_path``, ``window_start`` (snippet index), ``window_size``,
    ``valid_length`` (snippets of the video in the window; the rest is
    zero padding), ``num_snippets`` and ``snippet_seconds`` of the video,
    ``duration_second`` (``num_snippets * snippet_seconds``), ``gt_bbox``
    (the window's instances, G x 2 in [0, 1] of the window) and
    ``annotations`` (all instances of the video in seconds, for the
    metric). :class:`rcl_mm.datasets.transforms.LoadWindowFeature` reads
    the window's features.

    Snippets per video: ``num_snippets`` of ``video_info_file`` when given,
    else the rows of the feature file (read once when the dataset is
    built). Seconds per snippet: ``snippet_stride / fps``, with the
    video's ``fps`` from ``video_info_file`` when given (THUMOS14 videos
    are mostly 30 fps, some 25 or 29.97), else the ``fps`` argument.

    Training (``test_mode=False``): the windows of :func:`window_starts`
    that pass :func:`training_window_mask`. Testing: every window, so every
    snippet of every video is in one. Videos without a (non-ambiguous)
    instance are left out, and logged: THUMOS14's ``video_test_0001292``
    has only ambiguous ones.

    Args:
        ann_file (str): THUMOS14 csv (``test_Annotation.csv``) or an
            ActivityNet-layout JSON (``thumos_gt.json``).
        pipeline (list[dict | callable]): Data transforms.
        data_prefix (dict): ``dict(video=<feature folder>)``.
        test_mode (bool): All windows (True) or training windows.
        subset (str, optional): JSON only: the videos' ``subset``.
        feature_ext (str): ``'.npy'`` or ``'.csv'`` (one header row).
        window_size (int): ``T_s``. Defaults to 256.
        window_overlap (int): Snippets shared by consecutive windows;
            stride ``T_s - overlap``. Defaults to 128.
        min_inside (float): Training rule: fraction of an instance inside
            a kept window. Defaults to 0.9.
        snippet_stride (int): Frames per snippet. Defaults to 5.
        fps (float): Frames per second of videos not in
            ``video_info_file``. Defaults to 30.
        video_info_file (str, optional): JSON ``{video: {"num_snippets":
            N, "fps": F}}`` (either key optional).
        class_names (str | Sequence[str], optional): The classes (list,
            ``.json`` or text file); unknown labels are errors.
        exclude_videos (Sequence[str]): Videos to leave out.
        **kwargs: Passed to :class:`mmengine.dataset.BaseDataset`.
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: List[Union[dict, Callable]],
                 data_prefix: dict = dict(video=''),
                 test_mode: bool = False,
                 subset: Optional[str] = None,
                 feature_ext: str = '.npy',
                 window_size: int = 256,
                 window_overlap: int = 128,
                 min_inside: float = 0.9,
                 snippet_stride: int = 5,
                 fps: float = 30.0,
                 video_info_file: Optional[str] = None,
                 class_names: Optional[Union[str, Sequence[str]]] = None,
                 exclude_videos: Sequence[str] = (),
                 **kwargs) -> None:
        if feature_ext not in FEATURE_EXTS:
            raise ValueError(f'feature_ext must be one of {FEATURE_EXTS}, '
                             f'got {feature_ext!r}.')
        if window_size < 1:
            raise ValueError(f'window_size must be >= 1, got {window_size}.')
        if not 0 <= window_overlap < window_size:
            raise ValueError('window_overlap must be in [0, window_size), '
                             f'got {window_overlap}.')
        if not 0 < min_inside <= 1:
            raise ValueError(f'min_inside must be in (0, 1], got '
                             f'{min_inside}.')
        if snippet_stride <= 0 or fps <= 0:
            raise ValueError('snippet_stride and fps must be > 0, got '
                             f'{snippet_stride} and {fps}.')
        self.subset = subset
        self.feature_ext = feature_ext
        self.window_size = int(window_size)
        self.window_overlap = int(window_overlap)
        self.min_inside = float(min_inside)
        self.snippet_stride = snippet_stride
        self.fps = float(fps)
        self.video_info_file = video_info_file
        self.exclude_videos = set(exclude_videos)
        self.class_names = (
            load_class_names(class_names) if class_names is not None else
            None)
        if self.class_names is not None and kwargs.get('metainfo') is None:
            kwargs['metainfo'] = dict(classes=tuple(self.class_names))
        super().__init__(
            ann_file,
            pipeline=pipeline,
            data_prefix=data_prefix,
            test_mode=test_mode,
            **kwargs)

    def _video_info(self) -> Dict[str, dict]:
        if self.video_info_file is None:
            return {}
        info = load_json_strict(self.video_info_file)
        if not isinstance(info, dict):
            raise ValueError(f'{self.video_info_file}: expected {{video: '
                             '{"num_snippets": N, "fps": F}}.')
        return info

    def load_data_list(self) -> List[dict]:
        """One dict per window, videos in name order.

        Returns:
            list[dict]: See the class docstring.
        """
        annotations, ambiguous = load_thumos_annotations(
            self.ann_file, self.subset, self.class_names)
        video_info = self._video_info()
        logger = MMLogger.get_current_instance()
        num_ambiguous = sum(len(a) for a in ambiguous.values())
        if num_ambiguous:
            logger.info(f'{self.ann_file}: {num_ambiguous} ambiguous '
                        'instance(s) left out of targets and ground truth.')
        empty = sorted(v for v, a in annotations.items()
                       if not a and v not in self.exclude_videos)
        if empty:
            logger.warning(f'{self.ann_file}: video(s) without instances '
                           f'left out: {empty}')
        stride = self.window_size - self.window_overlap
        data_list = []
        for video in sorted(annotations):
            instances = annotations[video]
            if not instances or video in self.exclude_videos:
                continue
            path = osp.join(self.data_prefix['video'],
                            video + self.feature_ext)
            info = video_info.get(video, {})
            num_snippets = int(info.get('num_snippets') or
                               count_snippets(path))
            if num_snippets < 1:
                raise ValueError(f'Feature file {path} (video {video}) '
                                 'has no snippet.')
            fps = float(info.get('fps', self.fps))
            snippet_seconds = self.snippet_stride / fps
            segments = segments_to_snippets(
                [a['segment'] for a in instances], snippet_seconds)
            starts = window_starts(num_snippets, self.window_size, stride)
            if not self.test_mode:
                starts = starts[training_window_mask(
                    starts, segments, self.window_size, self.min_inside)]
            for start in starts.tolist():
                data_list.append(
                    dict(
                        video_name=video,
                        feature_path=path,
                        window_start=start,
                        window_size=self.window_size,
                        valid_length=min(self.window_size,
                                         num_snippets - start),
                        num_snippets=num_snippets,
                        snippet_seconds=snippet_seconds,
                        duration_second=num_snippets * snippet_seconds,
                        gt_bbox=window_ground_truth(start, segments,
                                                    self.window_size),
                        annotations=instances))
        if not data_list:
            raise ValueError(
                f'{self.ann_file}: no window' +
                ('' if self.test_mode else ' holds an instance with '
                 f'{self.min_inside:.0%} of it inside') +
                '; check the features and window settings.')
        return data_list

