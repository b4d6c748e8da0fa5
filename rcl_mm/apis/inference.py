# Copyright (c) rcl_mm contributors. All rights reserved.
"""Detect actions in the snippet features of new videos."""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint

from rcl_mm.datasets.transforms import LoadSnippetFeature, resize_feature
from rcl_mm.registry import MODELS

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
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope',
                                                      'rcl_mm')):
        model = MODELS.build(cfg.model)
    if checkpoint is not None:
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
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
        raise FileNotFoundError(f'{path} is neither a feature file nor a '
                                'folder of them.')
    files = sorted(
        osp.join(path, name) for name in os.listdir(path)
        if name.endswith(FEATURE_EXTENSIONS))
    if not files:
        raise FileNotFoundError(
            f'No {"/".join(FEATURE_EXTENSIONS)} feature files in {path}.')
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


@torch.no_grad()
def detect_actions(model: torch.nn.Module,
                   feature_files: Sequence[str],
                   durations: Optional[Dict[str, float]] = None,
                   batch_size: int = 8,
                   progress: bool = False) -> List[dict]:
    """Detections for the videos of ``feature_files``.

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
    """
    durations = durations or {}
    device = next(model.parameters()).device
    feat_dim = model.backbone.feat_dim
    temporal_dim = model.temporal_dim
    bar = None
    if progress:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(len(feature_files))
    outputs = []
    for begin in range(0, len(feature_files), batch_size):
        files = feature_files[begin:begin + batch_size]
        inputs, samples = [], []
        for path in files:
            name = osp.splitext(osp.basename(path))[0]
            raw = load_video_features(path, feat_dim)
            num_snippets = raw.shape[1]
            inputs.append(
                torch.from_numpy(resize_feature(raw, temporal_dim)))
            unit = 'seconds' if name in durations else 'snippets'
            duration = float(durations.get(name, num_snippets))
            samples.append(
                ActionDataSample(
                    metainfo=dict(video_name=name, duration_second=duration,
                                  unit=unit)))
        results = model(torch.stack(inputs).to(device), samples,
                        mode='predict')
        for result in results:
            outputs.append(
                dict(
                    video_name=result.video_name,
                    unit=result.unit,
                    duration=result.duration_second,
                    segments=result.pred_instances.segments.numpy(),
                    scores=result.pred_instances.scores.numpy()))
            if bar is not None:
                bar.update()
    return outputs
