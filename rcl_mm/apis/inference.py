# Copyright (c) rcl_mm contributors. All rights reserved.
"""Detect actions in the snippet features of new videos."""
import os
import os.path as osp
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint

from rcl_mm.datasets.thumos_annotations import window_starts
from rcl_mm.datasets.transforms import (LoadSnippetFeature,
                                       LoadWindowFeature, resize_feature)
from rcl_mm.evaluation.metrics.tad_metric import MERGE_DEFAULTS
from rcl_mm.models.task_modules import merge_window_proposals
from rcl_mm.models.localizers.state_dict_check import \
    CheckpointMismatchError
from rcl_mm.registry import MODELS
from rcl_mm.utils.checkpoint import check_checkpoint_file
from rcl_mm.utils.cli import UserFileNotFoundError
from rcl_mm.utils.config_check import check_cfg_options, load_config
from rcl_mm.utils.compat import mmengine_checkpoint_globals

FEATURE_EXTENSIONS = ('.csv', '.npy')


def init_localizer(config: Union[str, Config],
                   checkpoint: Optional[str] = None,
                   device: str = 'cpu',
                   cfg_options: Optional[dict] = None) -> torch.nn.Module:
    """Build a localizer from a config and load its weights.

    Args:
        config (str | Config): Config file or object.
        checkpoint (str, optional): Checkpoint to load. Defaults to None.
        device (str): Defaults to ``'cpu'``.
        cfg_options (dict, optional): Config overrides.

    Returns:
        nn.Module: The model in eval mode, with the config as ``model.cfg``.
    """
    if isinstance(config, str):
        # Typos in the file or in cfg_options stop here, named.
        cfg = load_config(config, cfg_options)
    else:
        cfg = config
        if cfg_options:
            check_cfg_options(cfg, cfg_options)
            cfg.merge_from_dict(cfg_options)
    if checkpoint is not None:
        check_checkpoint_file(checkpoint)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope',
                                                      'rcl_mm')):
        model = MODELS.build(cfg.model)
    if checkpoint is not None:
        try:
            with mmengine_checkpoint_globals():
                load_checkpoint(model, checkpoint, map_location='cpu',
                                strict=True)
        except CheckpointMismatchError as e:
            # The model raises without knowing the file: name it.
            raise CheckpointMismatchError(f'{checkpoint}: {e}') from e
    model.cfg = cfg
    return model.to(device).eval()


def list_feature_files(path: str) -> List[str]:
    """One feature file, or every ``.csv`` / ``.npy`` file of a folder.

    Raises:
        FileNotFoundError: If ``path`` does not exist or the folder holds no
            feature file.
    """
    if osp.isfile(path):
        return [path]
    if not osp.isdir(path):
        raise UserFileNotFoundError(
            'no such feature file or folder', path,
            'pass a .csv / .npy feature file or a folder of them')
    files = sorted(
        osp.join(path, name) for name in os.listdir(path)
        if name.endswith(FEATURE_EXTENSIONS))
    if not files:
        raise UserFileNotFoundError(
            f'no {"/".join(FEATURE_EXTENSIONS)} feature files in the folder',
            path, 'pass a folder of T x C .csv / .npy feature files')
    return files


def load_video_features(path: str, feat_dim: int) -> np.ndarray:
    """Read and check the features of one video.

    Args:
        path (str): A ``.csv`` (one header row) or ``.npy`` file, T x C.
        feat_dim (int): C the model expects.

    Returns:
        np.ndarray: C x T float32.
    """
    name = osp.splitext(osp.basename(path))[0]
    results = LoadSnippetFeature(feat_dim=feat_dim)(
        dict(feature_path=path, video_name=name))
    return results['raw_feature']


#: Defaults of the windowed path (THUMOS14 practice, see TADMetric).
WINDOW_DEFAULTS = dict(window_overlap=128, snippet_stride=5, fps=30.0)


def window_settings(cfg: Config) -> Optional[dict]:
    """The sliding-window settings of a config, None if it resizes.

    A config is windowed when its test dataset has ``window_overlap``
    (:class:`rcl_mm.datasets.ThumosFeatureDataset`). Returns
    ``window_overlap``, ``snippet_stride``, ``fps`` (from the test dataset)
    and ``merge`` (the test evaluator's ``merge_windows``).
    """
    loader = cfg.get('test_dataloader') or {}
    dataset = dict(loader.get('dataset') or {})
    if 'window_overlap' not in dataset:
        return None
    settings = {k: dataset.get(k, v) for k, v in WINDOW_DEFAULTS.items()}
    evaluator = cfg.get('test_evaluator')
    merge = {}
    if isinstance(evaluator, dict):
        merge = dict(evaluator.get('merge_windows') or {})
    settings['merge'] = dict(MERGE_DEFAULTS, **merge)
    return settings


def _snippet_array(path: str, feat_dim: int) -> np.ndarray:
    """``T x C`` features; ``.npy`` memory-mapped (read window by window).
    """
    name = osp.splitext(osp.basename(path))[0]
    where = f'{path} (video {name})'
    feature = LoadWindowFeature(feat_dim=feat_dim).open(path, where,
                                                        mmap=True)
    if feature.ndim != 2 or feature.shape[1] != feat_dim \
            or feature.shape[0] < 1:
        raise ValueError(
            f'Feature file {where} holds shape {feature.shape}; expected '
            f'T x {feat_dim} with T >= 1.')
    return feature


@torch.no_grad()
def detect_windowed(model: torch.nn.Module, features: np.ndarray,
                    snippet_seconds: float, window_overlap: int,
                    merge: dict, batch_size: int = 8,
                    name: str = '<video>') -> np.ndarray:
    """Detections of one long video by sliding windows.

    The windows of :func:`window_starts` (every snippet covered) go
    through the model ``batch_size`` at a time; of each window only the
    ``test_cfg['window_top_k']`` best candidates are kept, in video seconds
    (the model's ``window_detections``), then all are suppressed together
    (:func:`merge_window_proposals` with ``merge``). Memory is bounded by
    the window batch and the kept candidates, not by the video length
    (``.npy`` features are read window by window).

    Args:
        model (nn.Module): A localizer with ``temporal_dim`` = window size.
        features (np.ndarray): ``T_video x C`` (may be memory-mapped).
        snippet_seconds (float): Seconds per snippet.
        window_overlap (int): Snippets shared by consecutive windows.
        merge (dict): Arguments of :func:`merge_window_proposals`.
        batch_size (int): Windows per forward pass.
        name (str): Video name for messages.

    Returns:
        np.ndarray: M x 3 (start, end seconds, score), by score.
    """
    device = next(model.parameters()).device
    size = model.temporal_dim
    num_snippets = features.shape[0]
    starts = window_starts(num_snippets, size, size - window_overlap)
    loader = LoadWindowFeature(feat_dim=features.shape[1])
    kept = []
    for begin in range(0, len(starts), batch_size):
        batch = starts[begin:begin + batch_size].tolist()
        inputs = np.stack([
            loader.read_window(features, start, size,
                               f'of video {name}, window at snippet {start}')
            for start in batch
        ])
        inputs = torch.from_numpy(inputs).to(device)
        kept.extend(
            model.window_detections(
                inputs, batch, [min(size, num_snippets - s) for s in batch],
                [snippet_seconds] * len(batch)))
    merged = merge_window_proposals([torch.cat(kept)], **merge)[0]
    return merged.cpu().numpy()


@torch.no_grad()
def detect_actions(model: torch.nn.Module,
                   feature_files: Sequence[str],
                   durations: Optional[Dict[str, float]] = None,
                   batch_size: int = 8,
                   progress: bool = False) -> List[dict]:
    """Detections for the videos of ``feature_files``.

    When the model's config is windowed (:func:`window_settings`, e.g.
    THUMOS14), every video runs by sliding windows
    (:func:`detect_windowed`, ``batch_size`` windows at a time) and its
    segments are in seconds: ``duration / T_video`` per snippet with a
    duration, else the config's ``snippet_stride / fps``. Otherwise the
    features are resized to the model's T.

    Args:
        model (nn.Module): From :func:`init_localizer`.
        feature_files (Sequence[str]): One file per video; the video name
            is the file name without extension.
        durations (dict[str, float], optional): Seconds per video name.
            Videos without one get segments in snippets of their feature
            file (0 .. T_video) instead of seconds.
        batch_size (int): Videos per forward pass. Defaults to 8.
        progress (bool): Show a progress bar. Defaults to False.

    Returns:
        list[dict]: Per video: ``video_name``, ``unit`` (``'seconds'`` or
        ``'snippets'``), ``duration`` (in that unit), ``segments`` (M x 2)
        and ``scores`` (M), sorted by score.

    Raises:
        Exception: The first video's error (:func:`iter_detections`
        reports each video's error and goes on).
    """
    outputs = []
    for _, result, error in iter_detections(model, feature_files,
                                            durations, batch_size,
                                            progress):
        if error is not None:
            raise error
        outputs.append(result)
    return outputs


def iter_detections(model: torch.nn.Module,
                    feature_files: Sequence[str],
                    durations: Optional[Dict[str, float]] = None,
                    batch_size: int = 8,
                    progress: bool = False
                    ) -> Iterator[Tuple[str, Optional[dict],
                                        Optional[Exception]]]:
    """:func:`detect_actions` video by video, going on after a failure.

    Yields each video as soon as its batch is done, so a caller can write
    it before the next batch runs. A video whose features cannot be read,
    or whose forward pass fails, is yielded with its error and the others
    go on (a failed batch is run again one video at a time, to tell which
    one failed).

    Args:
        See :func:`detect_actions`.

    Yields:
        tuple: ``(feature file, result, None)`` or ``(feature file, None,
        error)``; ``result`` as in :func:`detect_actions`.
    """
    durations = durations or {}
    bar = None
    if progress:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(len(feature_files))
    windows = (window_settings(model.cfg)
               if getattr(model, 'cfg', None) is not None else None)
    if windows is not None:
        for path in feature_files:
            try:
                result = _detect_one_windowed(model, path, durations,
                                              windows, batch_size)
                yield path, result, None
            except Exception as error:  # noqa: B902  (reported per video)
                yield path, None, error
            if bar is not None:
                bar.update()
        return
    for begin in range(0, len(feature_files), batch_size):
        loaded = []
        for path in feature_files[begin:begin + batch_size]:
            try:
                loaded.append((path, _load_resized(model, path, durations)))
            except Exception as error:  # noqa: B902  (reported per video)
                yield path, None, error
                if bar is not None:
                    bar.update()
        try:
            outputs = _predict_resized(model, [item for _, item in loaded])
            done = list(zip([path for path, _ in loaded], outputs))
        except Exception as error:  # noqa: B902  (isolate the video)
            if len(loaded) == 1:
                done = [(loaded[0][0], error)]
            else:
                done = []
                for path, item in loaded:
                    try:
                        done.append((path, _predict_resized(model,
                                                            [item])[0]))
                    except Exception as one_error:  # noqa: B902
                        done.append((path, one_error))
        for path, output in done:
            if isinstance(output, Exception):
                yield path, None, output
            else:
                yield path, output, None
            if bar is not None:
                bar.update()


def _detect_one_windowed(model, path, durations, windows, batch_size):
    name = osp.splitext(osp.basename(path))[0]
    features = _snippet_array(path, model.backbone.feat_dim)
    num_snippets = features.shape[0]
    step = (durations[name] / num_snippets if name in durations
            else windows['snippet_stride'] / windows['fps'])
    dets = detect_windowed(model, features, step, windows['window_overlap'],
                           windows['merge'], batch_size, name)
    return dict(video_name=name, unit='seconds',
                duration=num_snippets * step, segments=dets[:, :2],
                scores=dets[:, 2])


def _load_resized(model, path, durations):
    """Features resized to the model's T and the video's data sample."""
    name = osp.splitext(osp.basename(path))[0]
    raw = load_video_features(path, model.backbone.feat_dim)
    num_snippets = raw.shape[1]
    unit = 'seconds' if name in durations else 'snippets'
    duration = float(durations.get(name, num_snippets))
    sample = ActionDataSample(
        metainfo=dict(video_name=name, duration_second=duration, unit=unit))
    return torch.from_numpy(resize_feature(raw, model.temporal_dim)), sample


def _predict_resized(model, items):
    """One forward pass over ``(features, data sample)`` items."""
    if not items:
        return []
    device = next(model.parameters()).device
    inputs = torch.stack([features for features, _ in items]).to(device)
    results = model(inputs, [sample for _, sample in items], mode='predict')
    return [
        dict(video_name=result.video_name, unit=result.unit,
             duration=result.duration_second,
             segments=result.pred_instances.segments.numpy(),
             scores=result.pred_instances.scores.numpy())
        for result in results
    ]
