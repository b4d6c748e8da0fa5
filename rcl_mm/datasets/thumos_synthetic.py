# Copyright (c) rcl_mm contributors. All rights reserved.
"""A THUMOS-like demo: synthetic features on real THUMOS14 timelines.

The real THUMOS14 validation (training) and test annotations give the
timelines: many short actions in long videos. Each selected video gets
``num_snippets = ceil((last annotated end + margin) / snippet_seconds)``
snippets drawn from the generative model of
:mod:`rcl_mm.datasets.synthetic` (:func:`synthesize_video`, with the grid
at exactly one snippet per ``snippet_seconds``), with shorter distractors
than the ActivityNet demo's, since THUMOS videos are long. Ambiguous
instances leave no trace in the features (they are not actions of the
model). The output folder holds::

    features/<video>.npy     num_snippets x C float32
    train_Annotation.csv     the selected validation videos' rows (real)
    test_Annotation.csv      the selected test videos' rows (real)
    video_info.json          {video: {num_snippets, fps, duration_second}}
    synthesis_meta.json      seed, settings, per-video snr
"""
import csv
import dataclasses
import json
import math
import os
import os.path as osp
import time
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from rcl_mm.utils.io import atomic_write
from .synthetic import SignalConfig, synthesize_video
from .thumos_annotations import AMBIGUOUS, load_thumos_annotations

#: The real annotation files the demo uses (copied from THUMOS14).
THUMOS_DEMO_ANN_DIR = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'data',
    'demo_thumos', 'annotations')
#: Long videos, short actions: distractors of 1-4% of the video.
THUMOS_SIGNAL = SignalConfig(distractor_rate=3.0,
                             distractor_length=(0.01, 0.04))


def _select(annotations: Dict[str, List[dict]], limit: Optional[int],
            max_seconds: float, margin: float,
            exclude: Sequence[str]) -> List[str]:
    names = sorted(
        v for v, a in annotations.items()
        if a and v not in exclude
        and max(x['segment'][1] for x in a) + margin <= max_seconds)
    return names if limit is None else names[:limit]


def _write_rows(src: str, dst: str, videos: Sequence[str]) -> int:
    """Copy the csv rows (ambiguous ones too) of ``videos``."""
    keep = set(videos)
    with open(src, newline='') as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [r for r in reader if r and r[0] in keep]
    with atomic_write(dst) as f:
        writer = csv.writer(f, lineterminator='\n')
        writer.writerow(header)
        writer.writerows(rows)
    return len(rows)


def synthesize_thumos_demo(out_dir: str = 'data/demo_thumos/data',
                           ann_dir: str = THUMOS_DEMO_ANN_DIR,
                           num_train: Optional[int] = 20,
                           num_test: Optional[int] = 10,
                           seed: int = 0,
                           feat_dim: int = 64,
                           snippet_stride: int = 5,
                           fps: float = 30.0,
                           margin: float = 10.0,
                           max_seconds: float = 240.0,
                           decimals: int = 4,
                           exclude: Sequence[str] = (
                               'video_test_0000270', 'video_test_0001496'),
                           signal: Optional[SignalConfig] = None
                           ) -> Dict[str, Any]:
    """Write the THUMOS-like demo dataset (see the module docstring).

    Args:
        out_dir (str): Output folder.
        ann_dir (str): Folder of ``val_Annotation.csv`` and
            ``test_Annotation.csv``.
        num_train (int, optional): First N validation videos by name (of
            those that fit ``max_seconds``) for training; None for all.
        num_test (int, optional): Same for test videos.
        seed (int): Seed of every draw.
        feat_dim (int): Channels ``C``.
        snippet_stride (int): Frames per snippet.
        fps (float): Frames per second (``snippet_seconds = stride /
            fps``).
        margin (float): Seconds after the last annotated end.
        max_seconds (float): Videos whose last end + margin exceed this
            are skipped (keeps the demo small).
        decimals (int): Decimal places kept.
        exclude (Sequence[str]): Videos never used (the two test videos
            left out of G-TAD's evaluation file).
        signal (SignalConfig, optional): Generative model knobs; defaults
            to :data:`THUMOS_SIGNAL`.

    Returns:
        dict: ``num_train``, ``num_test``, ``num_snippets`` (total),
        ``seconds`` (wall time).
    """
    began = time.perf_counter()
    signal = signal or THUMOS_SIGNAL
    snippet_seconds = snippet_stride / fps
    feature_dir = osp.join(out_dir, 'features')
    os.makedirs(feature_dir, exist_ok=True)
    video_info, latent, total = {}, {}, 0
    counts = {}
    for split, src_name, limit in (('train', 'val_Annotation.csv',
                                    num_train),
                                   ('test', 'test_Annotation.csv',
                                    num_test)):
        src = osp.join(ann_dir, src_name)
        annotations, _ = load_thumos_annotations(src)
        videos = _select(annotations, limit, max_seconds, margin, exclude)
        if not videos:
            raise ValueError(f'{src}: no video fits max_seconds='
                             f'{max_seconds}.')
        _write_rows(src, osp.join(out_dir, f'{split}_Annotation.csv'),
                    videos)
        counts[split] = len(videos)
        for video in videos:
            instances = [a for a in annotations[video]
                         if a['label'] != AMBIGUOUS]
            last = max(a['segment'][1] for a in instances)
            num_snippets = int(math.ceil((last + margin) / snippet_seconds))
            seconds = num_snippets * snippet_seconds
            info = dict(duration_second=seconds, duration_frame=1,
                        feature_frame=1, annotations=instances)
            features, drawn = synthesize_video(video, info, seed,
                                               num_snippets, feat_dim,
                                               signal)
            features = np.round(features, decimals).astype(np.float32)
            with atomic_write(osp.join(feature_dir, video + '.npy'),
                              'wb') as f:
                np.save(f, features)
            video_info[video] = dict(num_snippets=num_snippets, fps=fps,
                                     duration_second=seconds)
            latent[video] = dict(snr=drawn['snr'])
            total += num_snippets
    with atomic_write(osp.join(out_dir, 'video_info.json')) as f:
        json.dump(video_info, f, indent=1, sort_keys=True)
    with atomic_write(osp.join(out_dir, 'synthesis_meta.json')) as f:
        json.dump(dict(seed=seed, feat_dim=feat_dim,
                       snippet_stride=snippet_stride, fps=fps,
                       margin=margin, signal=dataclasses.asdict(signal),
                       videos=latent), f, indent=1, sort_keys=True)
    return dict(num_train=counts['train'], num_test=counts['test'],
                num_snippets=total, seconds=time.perf_counter() - began)
