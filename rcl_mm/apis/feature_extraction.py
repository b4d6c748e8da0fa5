# Copyright (c) rcl_mm contributors. All rights reserved.
"""Snippet features of raw videos with an mmaction2 recognizer.

A video of ``F`` frames is cut into ``F // interval`` snippets (the frames
``[i * interval, (i + 1) * interval)``; the last ``F % interval`` frames,
less than one snippet, have no feature, as in the ActivityNet features).
Snippet ``i`` is seen through one clip of ``clip_len`` frames, every
``frame_interval``-th frame, centred on the snippet (indices clamped to the
video), resized (short side) and centre-cropped as the extractor config's
``feature_extraction`` says. The recognizer's backbone (``extract_feat(...,
stage='backbone')``) turns ``batch_size`` clips at a time into feature
maps, which are averaged over everything but their channels: one ``C``
vector per snippet.

Decoding (PyAV) streams through the video in chunks of ``decode_chunk``
frames, keeping only the frames that later snippets still need, so memory
is bounded by the clips in flight, not by the video length.
"""
import json
import math
import os
import os.path as osp
import time
from collections import deque
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config

from rcl_mm.utils.cli import (UserError, UserFileNotFoundError,
                              UserValueError)
from rcl_mm.utils.io import atomic_write

#: Extensions listed as videos in a folder.
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mkv', '.mov', '.webm', '.m4v', '.mpg',
                    '.mpeg', '.flv', '.wmv', '.3gp')
#: Frames per snippet of the ActivityNet features (one snippet every 16).
DEFAULT_INTERVAL = 16
#: Suffix of the per-video information file written beside the features.
INFO_SUFFIX = '.info.json'
#: Name of the folder-level information file (every video of the folder).
FOLDER_INFO_FILE = 'video_info.json'
#: ``feature_extraction`` settings of an extractor config, and defaults.
EXTRACTION_DEFAULTS = dict(
    clip_len=1,  # frames per clip
    frame_interval=1,  # stride between the frames of a clip
    short_side=256,  # frames resized so that their short side is this
    crop_size=224,  # then centre-cropped to crop_size x crop_size
    batch_size=16,  # clips per forward pass
    decode_chunk=64,  # frames decoded and resized at a time
)


def import_av():
    """PyAV, or a one-line error saying how to install it."""
    try:
        import av
    except ImportError as error:
        raise UserError(
            'decoding videos needs PyAV', 'import av',
            'pip install av') from error
    return av


# --------------------------------------------------------------- extractor
class ExtractionSettings:
    """The ``feature_extraction`` dict of an extractor config, checked.

    Args:
        settings (dict): Keys of :data:`EXTRACTION_DEFAULTS`.
        where (str): The config, for messages.
    """

    def __init__(self, settings: Optional[dict], where: str) -> None:
        settings = dict(settings or {})
        unknown = sorted(set(settings) - set(EXTRACTION_DEFAULTS))
        if unknown:
            raise UserValueError(
                f'unknown feature_extraction key(s) {unknown}', where,
                f'use only {sorted(EXTRACTION_DEFAULTS)}')
        merged = dict(EXTRACTION_DEFAULTS, **settings)
        for key, value in merged.items():
            if not isinstance(value, int) or isinstance(value, bool) \
                    or value < 1:
                raise UserValueError(
                    f'feature_extraction.{key} must be a positive integer, '
                    f'got {value!r}', where, 'fix the extractor config')
        if merged['crop_size'] > merged['short_side']:
            raise UserValueError(
                f'feature_extraction.crop_size ({merged["crop_size"]}) is '
                f'larger than short_side ({merged["short_side"]})', where,
                'crop at most the resized short side')
        self.__dict__.update(merged)

    def to_dict(self) -> dict:
        return {key: getattr(self, key) for key in EXTRACTION_DEFAULTS}


class FeatureExtractor:
    """An mmaction2 recognizer that turns clips into one vector each.

    Built by :func:`init_feature_extractor`.

    Args:
        model (nn.Module): A recognizer (``Recognizer2D`` / ``3D``) in eval
            mode, on its device.
        settings (ExtractionSettings): Clip sampling and preprocessing.
        input_format (str): ``'NCHW'`` (2-D: the clip's frames are
            segments, their features averaged) or ``'NCTHW'`` (3-D).
        mean (Sequence[float]): Per-channel mean (0..255 RGB).
        std (Sequence[float]): Per-channel std.
        config_name (str): The config file, for messages.
    """

    def __init__(self, model: torch.nn.Module,
                 settings: ExtractionSettings, input_format: str,
                 mean: Sequence[float], std: Sequence[float],
                 config_name: str) -> None:
        self.model = model
        self.settings = settings
        self.input_format = input_format
        self.config_name = config_name
        self.device = next(model.parameters()).device
        self.mean = torch.tensor(mean, dtype=torch.float32,
                                 device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32,
                                device=self.device).view(1, 3, 1, 1)
        self._feat_dim = None

    @property
    def feat_dim(self) -> int:
        """C of the features (from one forward pass on a blank clip)."""
        if self._feat_dim is None:
            size = self.settings.crop_size
            blank = torch.zeros(1, self.settings.clip_len, 3, size, size,
                                dtype=torch.uint8)
            self._feat_dim = int(self.forward(blank).shape[1])
        return self._feat_dim

    @torch.no_grad()
    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """Features of a batch of clips.

        Args:
            clips (Tensor): B x L x 3 x S x S uint8 RGB frames (L =
                ``clip_len``, S = ``crop_size``), on any device.

        Returns:
            Tensor: B x C float32 on the CPU.
        """
        frames = clips.to(self.device, non_blocking=True).float()
        batch, length = frames.shape[:2]
        frames = frames.flatten(0, 1)
        frames = ((frames - self.mean) / self.std).view(
            batch, length, *frames.shape[1:])
        if self.input_format == 'NCTHW':
            # B x 1 clip x 3 x L x S x S, as mmaction2's FormatShape.
            inputs = frames.permute(0, 2, 1, 3, 4).unsqueeze(1)
        else:
            inputs = frames  # B x L segments x 3 x S x S
        features, _ = self.model.extract_feat(inputs, stage='backbone',
                                              test_mode=True)
        pooled = _pool(features)  # (B or B * L) x C
        if self.input_format != 'NCTHW':
            pooled = pooled.view(batch, length, -1).mean(dim=1)
        return pooled.float().cpu()


def _pool(features) -> torch.Tensor:
    """Average a backbone output over all but batch and channels.

    A tuple (SlowFast's pathways) is pooled part by part and concatenated
    along the channels.
    """
    if isinstance(features, (tuple, list)):
        return torch.cat([_pool(part) for part in features], dim=1)
    if features.dim() > 2:
        return features.flatten(2).mean(dim=2)
    return features


def _load_extractor_config(config: Union[str, Config]) -> Tuple[Config,
                                                                str]:
    if isinstance(config, Config):
        return config, config.filename or '<config>'
    if not osp.isfile(config):
        raise UserFileNotFoundError(
            'extractor config not found', config,
            'pass a config of configs/feature_extraction/ or your own')
    return Config.fromfile(config), config


def _state_dict_of(checkpoint: str) -> Dict[str, torch.Tensor]:
    from mmengine.runner.checkpoint import _load_checkpoint

    from rcl_mm.utils.compat import mmengine_checkpoint_globals
    with mmengine_checkpoint_globals():
        loaded = _load_checkpoint(checkpoint, map_location='cpu')
    state = loaded.get('state_dict', loaded) if isinstance(loaded,
                                                            dict) else None
    if not isinstance(state, dict):
        raise UserError('the checkpoint holds no state dict', checkpoint,
                        'pass a recognizer checkpoint (.pth) of mmaction2')
    return {(k[len('module.'):] if k.startswith('module.') else k): v
            for k, v in state.items()}


def init_feature_extractor(config: Union[str, Config],
                           checkpoint: Optional[str] = None,
                           device: str = 'cpu',
                           random_weights: bool = False,
                           seed: int = 0,
                           settings: Optional[dict] = None
                           ) -> FeatureExtractor:
    """Build an mmaction2 recognizer from an extractor config.

    Nothing is downloaded: the weights come from ``checkpoint`` (an
    mmaction2 recognizer checkpoint; its backbone must match the config,
    its head may be missing), or, with ``random_weights``, from PyTorch's
    default initialisation under ``seed`` (tests and demos only).

    Args:
        config (str | Config): Extractor config (a recognizer config with a
            ``feature_extraction`` dict, see :data:`EXTRACTION_DEFAULTS`).
        checkpoint (str, optional): Recognizer weights.
        device (str): ``'cpu'``, ``'cuda'``, ... Defaults to ``'cpu'``.
        random_weights (bool): Allow no checkpoint. Defaults to False.
        seed (int): Seed of the random weights. Defaults to 0.
        settings (dict, optional): Overrides of ``feature_extraction``.

    Returns:
        FeatureExtractor: In eval mode on ``device``.

    Raises:
        UserError: No checkpoint and no ``random_weights``; a checkpoint
            of another backbone; a bad ``feature_extraction`` value.
    """
    cfg, name = _load_extractor_config(config)
    if str(device).startswith('cuda') and not torch.cuda.is_available():
        raise UserValueError('no CUDA device here', f'--device {device}',
                             'use --device cpu')
    if checkpoint is None and not random_weights:
        raise UserError(
            'no extractor checkpoint', name,
            'pass --checkpoint with the recognizer weights the config names '
            '(docs/custom_dataset.md lists them), or --random-weights for a '
            'test without meaningful features')
    if 'model' not in cfg:
        raise UserValueError('the config has no model', name,
                             'pass an mmaction2 recognizer config')
    extraction = dict(cfg.get('feature_extraction') or {})
    extraction.update(settings or {})
    checked = ExtractionSettings(extraction, name)
    preprocessor = dict(cfg.model.get('data_preprocessor') or {})
    input_format = preprocessor.get('format_shape', 'NCHW')
    if input_format not in ('NCHW', 'NCTHW'):
        raise UserValueError(
            f'data_preprocessor.format_shape {input_format!r} is not '
            'supported', name, "use a recognizer with 'NCHW' or 'NCTHW'")
    mean = preprocessor.get('mean', (0., 0., 0.))
    std = preprocessor.get('std', (1., 1., 1.))

    from mmaction.registry import MODELS as MMACTION_MODELS
    from mmaction.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    model_cfg = cfg.model.copy()
    model_cfg.pop('data_preprocessor', None)  # normalised here, batched
    if checkpoint is not None:
        from rcl_mm.utils.checkpoint import check_checkpoint_file
        check_checkpoint_file(checkpoint)
    torch.manual_seed(seed)
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmaction'):
        model = MMACTION_MODELS.build(model_cfg)
    # No init_weights(): it would fetch the config's pretrained weights.
    if checkpoint is not None:
        _load_weights(model, checkpoint, name)
    model = model.to(device).eval()
    return FeatureExtractor(model, checked, input_format, mean, std, name)


def _load_weights(model: torch.nn.Module, checkpoint: str,
                  config_name: str) -> None:
    """Load a checkpoint's backbone (and head, when present) strictly."""
    state = _state_dict_of(checkpoint)
    own = model.state_dict()
    missing = [k for k in own if k.startswith('backbone.')
               and k not in state]
    wrong = [f'{k} {tuple(state[k].shape)} vs {tuple(v.shape)}'
             for k, v in own.items()
             if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if missing or wrong:
        detail = (f'{len(missing)} backbone weight(s) missing, e.g. '
                  f'{missing[0]}' if missing else
                  f'{len(wrong)} weight(s) of another shape, e.g. '
                  f'{wrong[0]}')
        raise UserError(
            f'the checkpoint does not fit the extractor config {config_name}'
            f' ({detail})', checkpoint,
            'pass the checkpoint of this config (docs/custom_dataset.md)')
    model.load_state_dict({k: v for k, v in state.items() if k in own},
                          strict=False)


# ---------------------------------------------------------------- decoding
class VideoInfo(dict):
    """``num_frames``, ``fps``, ``duration_second``, ``num_snippets``,
    ``snippet_interval``, ``feature_frame`` (frames the features cover) and
    ``feature_second`` of one video."""


def snippet_clip_indices(snippets, interval: int, clip_len: int,
                         frame_interval: int,
                         num_frames: Optional[int] = None) -> np.ndarray:
    """Frame indices of the clips of some snippets.

    Snippet ``i`` covers frames ``[i * interval, (i + 1) * interval)``; its
    clip is ``clip_len`` frames ``frame_interval`` apart, centred on the
    snippet's centre, clamped to ``[0, num_frames - 1]`` (not clamped when
    ``num_frames`` is None).

    Args:
        snippets (int | array): Snippet indices (N), or an int ``N`` for
            the snippets ``0 .. N - 1``.

    Returns:
        np.ndarray: ``N x clip_len`` int64.
    """
    if np.isscalar(snippets):
        snippets = np.arange(int(snippets))
    centres = np.asarray(snippets, dtype=np.float64) * interval \
        + interval / 2.0
    starts = np.floor(centres - clip_len * frame_interval / 2.0 +
                      frame_interval / 2.0)
    indices = starts[:, None] + np.arange(clip_len)[None] * frame_interval
    if num_frames is not None:
        indices = np.clip(indices, 0, num_frames - 1)
    return indices.astype(np.int64)


def _resize_crop(frames: np.ndarray, short_side: int,
                 crop_size: int) -> torch.Tensor:
    """N x H x W x 3 uint8 -> N x 3 x crop x crop uint8 (bilinear)."""
    tensor = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    height, width = tensor.shape[2:]
    scale = short_side / min(height, width)
    size = (max(crop_size, round(height * scale)),
            max(crop_size, round(width * scale)))
    if size != (height, width):
        tensor = F.interpolate(tensor, size=size, mode='bilinear',
                               align_corners=False, antialias=scale < 1)
    top = (size[0] - crop_size) // 2
    left = (size[1] - crop_size) // 2
    tensor = tensor[:, :, top:top + crop_size, left:left + crop_size]
    return tensor.round_().clamp_(0, 255).to(torch.uint8)


class _Thumbnails:
    """Evenly spaced small frames of a stream of unknown length.

    Keeps every ``stride``-th frame; when more than ``2 * count`` are kept,
    every other one is dropped and the stride doubles, so between
    ``count`` and ``2 * count`` frames stay, evenly spaced, whatever the
    length.
    """

    def __init__(self, count: int, height: int = 48) -> None:
        self.count, self.height = count, height
        self.stride = 1
        self.kept: List[Tuple[int, np.ndarray]] = []

    def wants(self, index: int) -> bool:
        return self.count > 0 and index % self.stride == 0

    def add(self, first_index: int, frames: Sequence) -> None:
        if self.count <= 0:
            return
        picks = [i for i in range(len(frames))
                 if (first_index + i) % self.stride == 0
                 and frames[i] is not None]
        if not picks:
            return
        small = torch.from_numpy(np.stack([frames[i] for i in picks])
                                 ).permute(0, 3, 1, 2).float()
        scale = self.height / small.shape[2]
        small = F.interpolate(
            small, size=(self.height, max(1, round(small.shape[3] * scale))),
            mode='bilinear', align_corners=False, antialias=scale < 1)
        small = small.round().clamp(0, 255).to(torch.uint8).permute(
            0, 2, 3, 1).numpy()
        for i, image in zip(picks, small):
            self.kept.append((first_index + i, image))
        while len(self.kept) > 2 * self.count:
            self.stride *= 2
            self.kept = [item for item in self.kept
                         if item[0] % self.stride == 0]

    def pick(self, fps: float) -> List[Tuple[float, np.ndarray]]:
        """At most ``count`` of them, evenly, as (seconds, H x W x 3)."""
        if not self.kept:
            return []
        chosen = np.unique(np.linspace(0, len(self.kept) - 1,
                                       min(self.count, len(self.kept))
                                       ).round().astype(int))
        return [(self.kept[i][0] / fps, self.kept[i][1]) for i in chosen]


def _decoded_chunks(path: str, chunk: int, wanted=None
                    ) -> Iterator[Tuple[float, List[Optional[np.ndarray]]]]:
    """Yield ``(fps, frames)``: up to ``chunk`` frames, each H x W x 3
    uint8 RGB, or None for a frame that ``wanted(index)`` declines.

    Converting a decoded frame to RGB costs about as much as decoding it,
    so only the frames that clips or thumbnails use are converted. The
    last frame of the stream is always converted (the clips of the last
    snippets are clamped to it).

    Raises:
        UserValueError: For a file PyAV cannot open or decode, or without
            a video stream.
    """
    av = import_av()
    fix = ('check that the file plays (e.g. with ffplay); re-encode it, '
           'or remove it from the folder')
    if not osp.isfile(path):
        raise UserFileNotFoundError('no such video file', path,
                                    'check the path')
    if osp.getsize(path) == 0:
        raise UserValueError('the video file is empty (0 bytes)', path, fix)
    try:
        container = av.open(path)
    except Exception as error:  # noqa: B902  (any decoder failure)
        raise UserValueError(f'cannot open the video ({error})', path,
                             fix) from error
    with container:
        if not container.streams.video:
            raise UserValueError('the file has no video stream', path, fix)
        stream = container.streams.video[0]
        stream.thread_type = 'AUTO'
        rate = stream.average_rate or stream.guessed_rate or \
            stream.base_rate
        fps = float(rate) if rate else 0.0
        if not fps > 0:
            raise UserValueError('the video has no frame rate', path, fix)
        buffer: List[Optional[np.ndarray]] = []
        held, index = None, 0  # one frame of look-ahead: is it the last?
        try:
            for frame in container.decode(stream):
                if held is not None:
                    buffer.append(_convert(held, index, wanted))
                    index += 1
                    if len(buffer) == chunk:
                        yield fps, buffer
                        buffer = []
                held = frame
        except av.error.FFmpegError as error:
            raise UserValueError(
                f'cannot decode the video after {index} frame(s) '
                f'({error})', path, fix) from error
        if held is not None:
            buffer.append(held.to_ndarray(format='rgb24'))
        if buffer:
            yield fps, buffer


def _convert(frame, index: int, wanted) -> Optional[np.ndarray]:
    if wanted is None or wanted(index):
        return frame.to_ndarray(format='rgb24')
    return None


def _clip_frame_test(interval: int, clip_len: int, frame_interval: int):
    """``test(j)``: whether frame ``j`` is in any snippet's clip (before
    clamping; frame 0, where clips before the start clamp to, included).
    """
    # Clip of snippet s: s * interval + offset + k * frame_interval.
    offset = int(snippet_clip_indices([0], interval, clip_len,
                                      frame_interval)[0, 0])
    span = (clip_len - 1) * frame_interval

    def test(j: int) -> bool:
        if j == 0:
            return True
        first = max(0, -(-(j - offset - span) // interval))
        for snippet in range(first, (j - offset) // interval + 1):
            step = j - snippet * interval - offset
            if step % frame_interval == 0:
                return True
        return False

    return test


def extract_video_features(extractor: FeatureExtractor, path: str,
                           interval: int = DEFAULT_INTERVAL,
                           num_thumbnails: int = 0,
                           progress=None) -> Tuple[np.ndarray, VideoInfo,
                                                   list]:
    """One feature vector per snippet of a video.

    Frames are decoded ``decode_chunk`` at a time and resized and cropped
    as a batch; clips go through the model ``batch_size`` at a time. The
    snippets are known only when the last frame is decoded (containers
    often misstate their frame count), so a clip near the end is completed
    once the stream ends.

    Args:
        extractor (FeatureExtractor): From :func:`init_feature_extractor`.
        path (str): The video file.
        interval (int): Frames per snippet. Defaults to 16.
        num_thumbnails (int): Small frames to keep for a plot (0: none).
        progress (callable, optional): Called with the frames decoded so
            far (for a progress bar).

    Returns:
        tuple: ``features`` (num_snippets x C float32), ``info``
        (:class:`VideoInfo`) and ``thumbnails`` (list of (seconds,
        H x W x 3 uint8)).

    Raises:
        UserValueError: An undecodable file, a video without frames or
            shorter than one snippet.
    """
    if interval < 1:
        raise UserValueError(f'interval must be >= 1, got {interval}')
    s = extractor.settings
    frames: deque = deque()  # resized frames, the first has index `base`
    base = 0
    decoded = 0
    fps = 0.0
    features: List[torch.Tensor] = []
    pending: List[torch.Tensor] = []
    next_snippet = 0
    thumbnails = _Thumbnails(num_thumbnails)

    def clip_indices(snippet: int, num_frames=None) -> np.ndarray:
        return snippet_clip_indices([snippet], interval, s.clip_len,
                                    s.frame_interval, num_frames)[0]

    def queue(snippet: int, num_frames: int) -> None:
        indices = clip_indices(snippet, num_frames) - base
        pending.append(torch.stack([frames[i] for i in indices]))
        while len(pending) >= s.batch_size:
            features.append(extractor.forward(torch.stack(
                pending[:s.batch_size])))
            del pending[:s.batch_size]

    in_clip = _clip_frame_test(interval, s.clip_len, s.frame_interval)

    def wanted(index: int) -> bool:
        return in_clip(index) or thumbnails.wants(index)

    for fps, chunk in _decoded_chunks(path, s.decode_chunk, wanted):
        thumbnails.add(decoded, chunk)
        kept = [frame for frame in chunk if frame is not None]
        resized = iter(_resize_crop(np.stack(kept), s.short_side,
                                    s.crop_size) if kept else ())
        # Frames no clip uses stay None (never read).
        frames.extend(next(resized) if frame is not None else None
                      for frame in chunk)
        decoded += len(chunk)
        if progress is not None:
            progress(decoded)
        # Snippets that exist and whose whole clip is decoded.
        while (next_snippet + 1) * interval <= decoded and \
                clip_indices(next_snippet)[-1] < decoded:
            queue(next_snippet, decoded)
            next_snippet += 1
        # Frames before the next snippet's clip are no longer needed.
        keep_from = max(0, int(clip_indices(next_snippet)[0]))
        while base < keep_from and frames:
            frames.popleft()
            base += 1
    num_frames = decoded
    if num_frames == 0:
        raise UserValueError(
            'the video has no frames (zero length)', path,
            'check the file; remove it from the folder or re-encode it')
    num_snippets = num_frames // interval
    if num_snippets == 0:
        raise UserValueError(
            f'the video is shorter than one snippet ({num_frames} frames '
            f'< --interval {interval})', path,
            'pass a smaller --interval or leave the video out')
    while next_snippet < num_snippets:  # clips that reach the end
        queue(next_snippet, num_frames)
        next_snippet += 1
    if pending:
        features.append(extractor.forward(torch.stack(pending)))
    feature = torch.cat(features).numpy().astype(np.float32)
    info = VideoInfo(
        num_frames=num_frames, fps=fps, duration_second=num_frames / fps,
        num_snippets=num_snippets, snippet_interval=interval,
        feature_frame=num_snippets * interval,
        feature_second=num_snippets * interval / fps)
    return feature, info, thumbnails.pick(fps)


# ----------------------------------------------------------------- writing
def list_videos(path: str) -> List[str]:
    """One video file, or the videos of a folder (by extension), sorted.

    Raises:
        UserFileNotFoundError: No such path, or a folder without videos.
    """
    if osp.isfile(path):
        return [path]
    if not osp.isdir(path):
        raise UserFileNotFoundError(
            'no such video file or folder', path,
            'pass a video file or a folder of videos')
    files = sorted(
        osp.join(path, name) for name in os.listdir(path)
        if name.lower().endswith(VIDEO_EXTENSIONS)
        and osp.isfile(osp.join(path, name)))
    if not files:
        raise UserFileNotFoundError(
            'no video files in the folder', path,
            f'videos are found by extension: {", ".join(VIDEO_EXTENSIONS)}')
    return files


def video_name(path: str) -> str:
    """The video's name: its file name without extension."""
    return osp.splitext(osp.basename(path))[0]


def write_features(features: np.ndarray, out_file: str) -> None:
    """Write ``T x C`` features atomically as our datasets read them.

    ``.csv``: mmaction2's layout, one header row (``f0,...``) then T rows,
    9 significant digits (every float32 reads back exactly); ``.npy``: the
    float32 array.
    """
    features = np.asarray(features, dtype=np.float32)
    if out_file.endswith('.npy'):
        with atomic_write(out_file, 'wb') as f:
            np.save(f, features)
    elif out_file.endswith('.csv'):
        with atomic_write(out_file) as f:
            f.write(','.join(f'f{i}' for i in range(features.shape[1])))
            f.write('\n')
            np.savetxt(f, features, delimiter=',', fmt='%.9g')
    else:
        raise UserValueError('features are written as .csv or .npy',
                             out_file, 'use --format csv or npy')


def write_info(info: dict, out_file: str) -> None:
    """Write a video's :class:`VideoInfo` atomically as JSON."""
    with atomic_write(out_file) as f:
        json.dump(dict(info), f, indent=1)


def collect_folder_info(out_dir: str) -> Dict[str, dict]:
    """Merge the ``<video>.info.json`` files of a folder into
    ``video_info.json`` (``{video: info}``; the THUMOS dataset reads its
    ``num_snippets`` and ``fps``) and return it."""
    merged = {}
    for name in sorted(os.listdir(out_dir)):
        if name.endswith(INFO_SUFFIX) and not name.startswith('.'):
            with open(osp.join(out_dir, name), encoding='utf-8') as f:
                merged[name[:-len(INFO_SUFFIX)]] = json.load(f)
    with atomic_write(osp.join(out_dir, FOLDER_INFO_FILE)) as f:
        json.dump(merged, f, indent=1, sort_keys=True)
    return merged


def extract_features_to(extractor: FeatureExtractor, video: str,
                        out_dir: str, interval: int = DEFAULT_INTERVAL,
                        fmt: str = 'csv', num_thumbnails: int = 0,
                        progress=None) -> Tuple[str, VideoInfo, list]:
    """Extract one video and write ``<out_dir>/<video>.<fmt>`` and
    ``<out_dir>/<video>.info.json`` (both atomic).

    Returns:
        tuple: The feature file, the :class:`VideoInfo` and the thumbnails.
    """
    features, info, thumbnails = extract_video_features(
        extractor, video, interval, num_thumbnails, progress)
    name = video_name(video)
    out_file = osp.join(out_dir, f'{name}.{fmt}')
    write_features(features, out_file)
    info = VideoInfo(info, feat_dim=int(features.shape[1]),
                     extractor=osp.basename(extractor.config_name),
                     video_file=osp.basename(video))
    write_info(info, osp.join(out_dir, name + INFO_SUFFIX))
    return out_file, info, thumbnails


def iter_extract_folder(extractor: FeatureExtractor, videos: Sequence[str],
                        out_dir: str, interval: int = DEFAULT_INTERVAL,
                        fmt: str = 'csv', num_thumbnails: int = 0,
                        skip_existing: bool = False, progress: bool = False
                        ) -> Iterator[Tuple[str, Optional[tuple],
                                            Optional[Exception]]]:
    """:func:`extract_features_to` for each video, going on after a
    failure.

    Yields:
        tuple: ``(video, (feature file, info, thumbnails), None)`` or
        ``(video, None, error)``.
    """
    bar = _Progress(len(videos)) if progress else None
    for video in videos:
        name = video_name(video)
        out_file = osp.join(out_dir, f'{name}.{fmt}')
        info_file = osp.join(out_dir, name + INFO_SUFFIX)
        if bar is not None:
            bar.start_video(name)
        try:
            if skip_existing and osp.isfile(out_file) \
                    and osp.isfile(info_file):
                with open(info_file, encoding='utf-8') as f:
                    result = (out_file, VideoInfo(json.load(f)), [])
            else:
                result = extract_features_to(extractor, video, out_dir,
                                             interval, fmt, num_thumbnails,
                                             bar)
            error = None
        except Exception as caught:  # noqa: B902  (reported per video)
            result, error = None, caught
        if bar is not None:
            bar.end_video('failed' if error is not None else 'done')
        yield video, result, error


class _Progress:
    """One line on stderr: videos done of all, and the frames decoded of
    the current video with the decoding + extraction rate."""

    def __init__(self, total: int) -> None:
        import sys
        self.total, self.done, self.stream = total, 0, sys.stderr
        self.name, self.start = '', time.perf_counter()

    def start_video(self, name: str) -> None:
        self.name, self.start = name, time.perf_counter()
        self._write(f'{self.name}: starting')

    def __call__(self, decoded: int) -> None:
        rate = decoded / max(time.perf_counter() - self.start, 1e-9)
        self._write(f'{self.name}: {decoded} frames, {rate:.0f} frames/s')

    def end_video(self, status: str) -> None:
        self.done += 1
        seconds = time.perf_counter() - self.start
        self._write(f'{self.name}: {status} in {seconds:.1f} s')
        self.stream.write('\n')
        self.stream.flush()

    def _write(self, text: str) -> None:
        self.stream.write(f'\r\033[K[{self.done}/{self.total} videos] '
                          f'{text}')
        self.stream.flush()


# -------------------------------------------------------------- throughput
def measure_extraction_throughput(config: Union[str, Config],
                                  device: str = 'cpu',
                                  checkpoint: Optional[str] = None,
                                  num_snippets: int = 64,
                                  batch_size: Optional[int] = None,
                                  warmup: int = 1,
                                  settings: Optional[dict] = None,
                                  video: Optional[str] = None,
                                  interval: int = DEFAULT_INTERVAL) -> dict:
    """Snippets per second of an extractor.

    Without ``video``: the forward passes only. Random clips (uint8
    frames of the config's crop size) go through the model ``batch_size``
    at a time, after ``warmup`` batches, for at least ``num_snippets``
    snippets. With ``video``: the whole of
    :func:`extract_video_features` on that file (decoding, resizing,
    forward passes), after one warm-up batch. Random weights unless
    ``checkpoint`` is given (the speed does not depend on the weights).

    Returns:
        dict: ``snippets_per_second``, ``seconds``, ``num_snippets``,
        ``batch_size``, ``clip_len``, ``crop_size``, ``feat_dim``,
        ``device``, ``config``, ``torch_threads``; with ``video`` also
        ``frames_per_second`` and ``video``.
    """
    settings = dict(settings or {})
    if batch_size is not None:
        settings['batch_size'] = batch_size
    extractor = init_feature_extractor(config, checkpoint, device,
                                       random_weights=checkpoint is None,
                                       settings=settings)
    s = extractor.settings
    batch = s.batch_size
    generator = torch.Generator().manual_seed(0)
    clips = torch.randint(0, 256, (batch, s.clip_len, 3, s.crop_size,
                                   s.crop_size), generator=generator,
                          dtype=torch.uint8)
    for _ in range(warmup):
        extractor.forward(clips)
    synchronize = (torch.cuda.synchronize if str(device).startswith('cuda')
                   else (lambda: None))
    synchronize()
    extra = {}
    start = time.perf_counter()
    if video is None:
        batches = max(1, math.ceil(num_snippets / batch))
        for _ in range(batches):
            extractor.forward(clips)
        synchronize()
        done = batches * batch
    else:
        _, info, _ = extract_video_features(extractor, video, interval)
        synchronize()
        done = info['num_snippets']
    seconds = time.perf_counter() - start
    if video is not None:
        extra = dict(frames_per_second=info['num_frames'] / seconds,
                     video=osp.basename(video), interval=interval)
    return dict(snippets_per_second=done / seconds, seconds=seconds,
                num_snippets=done, batch_size=batch, clip_len=s.clip_len,
                crop_size=s.crop_size, feat_dim=extractor.feat_dim,
                device=str(device), config=extractor.config_name,
                torch_threads=torch.get_num_threads(), **extra)
