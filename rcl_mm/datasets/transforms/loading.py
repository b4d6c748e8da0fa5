# Copyright (c) rcl_mm contributors. All rights reserved.
"""Load and resample snippet features (extends mmaction2's loaders)."""
import os.path as osp
import warnings
from typing import Optional

import numpy as np
from mmaction.datasets.transforms import LoadLocalizationFeature
from mmcv.transforms import BaseTransform

from rcl_mm.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadSnippetFeature(LoadLocalizationFeature):
    """Load the snippet features of one video, with clear errors.

    A drop-in extension of mmaction2's ``LoadLocalizationFeature``: the
    file named by ``results['feature_path']`` holds a ``T x C`` array
    (``T`` snippets of ``C`` channels), either as mmaction2's csv (one
    header row, comma separated) or as a ``.npy`` file; the extension
    decides. The output is the same as mmaction2's:
    ``results['raw_feature']``, float32, ``C x T``.

    Required keys: ``feature_path`` (``video_name`` is used in messages).
    Added keys: ``raw_feature``.

    Args:
        feat_dim (int, optional): Expected number of channels ``C``; None
            accepts any. Defaults to None.
        min_snippets (int): Minimum number of snippets ``T``. Defaults to 1.

    Raises:
        FileNotFoundError: If the file is missing.
        ValueError: For an unknown extension, an unreadable file, an array
            that is not 2-D, the wrong ``C``, fewer than ``min_snippets``
            snippets, or NaN / Inf values (the first snippet indices are
            named).
    """

    def __init__(self, feat_dim: Optional[int] = None,
                 min_snippets: int = 1) -> None:
        if feat_dim is not None and feat_dim < 1:
            raise ValueError(f'feat_dim must be >= 1, got {feat_dim}.')
        if min_snippets < 1:
            raise ValueError(f'min_snippets must be >= 1, got {min_snippets}.')
        self.feat_dim = feat_dim
        self.min_snippets = min_snippets

    def transform(self, results: dict) -> dict:
        """Read ``results['feature_path']`` into ``results['raw_feature']``.

        Args:
            results (dict): The pipeline dict.

        Returns:
            dict: ``results`` with ``raw_feature`` (``C x T`` float32).
        """
        path = results['feature_path']
        where = f'{path} (video {results.get("video_name", "<unknown>")})'
        feature = self.open(path, where)
        self._check(feature, where)
        results['raw_feature'] = np.ascontiguousarray(feature.T)
        return results

    def open(self, path: str, where: str,
             mmap: bool = False) -> np.ndarray:
        """The ``T x C`` array of a csv or npy file, values unchecked.

        Args:
            path (str): The feature file.
            where (str): How messages name it (file and video).
            mmap (bool): Memory-map a ``.npy`` file (read lazily, e.g.
                window by window); a csv is always read whole.

        Raises:
            FileNotFoundError: If the file is missing.
            ValueError: For an unknown extension or an unreadable file.
        """
        ext = osp.splitext(path)[1].lower()
        if ext not in ('.csv', '.npy'):
            raise ValueError(
                f'Feature file {where}: unknown extension "{ext}"; use a '
                '.csv (T x C with one header row) or .npy (T x C) file.')
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'Feature file {where} does not exist; check '
                'data_prefix and feature_ext in the dataset config.')
        return self._read(path, ext, where, mmap)

    @staticmethod
    def _read(path: str, ext: str, where: str,
              mmap: bool = False) -> np.ndarray:
        """Read the ``T x C`` array of a csv or npy file."""
        try:
            if ext == '.npy':
                feature = np.load(path, mmap_mode='r' if mmap else None,
                                  allow_pickle=False)
            else:
                with warnings.catch_warnings():
                    # A header-only file: reported below as too short.
                    warnings.simplefilter('ignore', UserWarning)
                    feature = np.loadtxt(
                        path,
                        dtype=np.float32,
                        delimiter=',',
                        skiprows=1,
                        ndmin=2)
        except (ValueError, OSError, EOFError) as error:
            raise ValueError(
                f'Feature file {where} could not be read as {ext} '
                f'({error}); the csv needs one header row and then T rows '
                'of C comma-separated numbers.') from error
        if not np.issubdtype(feature.dtype, np.number):
            raise ValueError(f'Feature file {where} holds {feature.dtype} '
                             'values; expected numbers.')
        if mmap and ext == '.npy':
            return feature  # converted window by window (read_window)
        return feature.astype(np.float32, copy=False)

    def _check(self, feature: np.ndarray, where: str) -> None:
        """Check shape and values of the ``T x C`` array."""
        if feature.ndim != 2:
            raise ValueError(
                f'Feature file {where} holds an array of shape '
                f'{feature.shape}; expected 2-D T x C (snippets x channels).')
        num_snippets, feat_dim = feature.shape
        if num_snippets == 0:
            # Before the channel check: an empty csv reads as 0 x 1.
            raise ValueError(
                f'Feature file {where} holds no snippet (the file is empty '
                'or has only its header row); re-extract the features of '
                'this video or remove it from the annotations.')
        if self.feat_dim is not None and feat_dim != self.feat_dim:
            hint = ('; the file looks transposed (C x T), save it as T x C'
                    if num_snippets == self.feat_dim else
                    '; set feat_dim to match the features (and the model\'s'
                    ' input channels)')
            raise ValueError(
                f'Feature file {where} has {feat_dim} channels per snippet '
                f'(shape {feature.shape}), expected feat_dim='
                f'{self.feat_dim}{hint}.')
        if num_snippets < self.min_snippets:
            raise ValueError(
                f'Feature file {where} has {num_snippets} snippet(s), fewer '
                f'than min_snippets={self.min_snippets}; re-extract the '
                'features of this video or remove it from the annotations.')
        finite = np.isfinite(feature).all(axis=1)
        if not finite.all():
            bad = np.flatnonzero(~finite)
            shown = ', '.join(str(i) for i in bad[:10])
            more = f' (and {bad.size - 10} more)' if bad.size > 10 else ''
            raise ValueError(
                f'Feature file {where} has NaN or Inf values at snippet '
                f'index(es) {shown}{more}; re-extract the features of this '
                'video.')

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(feat_dim={self.feat_dim}, '
                f'min_snippets={self.min_snippets})')


def resize_feature(feature: np.ndarray, temporal_dim: int) -> np.ndarray:
    """Linearly resample ``C x T_in`` features to ``C x temporal_dim``.

    Snippet centres are aligned: output snippet ``j`` (centre at ``(j +
    0.5) / temporal_dim`` of the video) reads input position

    ``p_j = clip((j + 0.5) * T_in / temporal_dim - 0.5, 0, T_in - 1)``

    and interpolates linearly between snippets ``floor(p_j)`` and
    ``floor(p_j) + 1``: ``(1 - w) * x[:, i] + w * x[:, i + 1]`` with
    ``i = floor(p_j)``, ``w = p_j - i``. Equal sizes return the input
    unchanged (``p_j = j``); a single input snippet is repeated.

    Args:
        feature (np.ndarray): ``C x T_in`` features, ``T_in >= 1``.
        temporal_dim (int): Output length.

    Returns:
        np.ndarray: ``C x temporal_dim`` float32.
    """
    if feature.ndim != 2 or feature.shape[1] < 1:
        raise ValueError('resize_feature expects C x T features with T >= 1,'
                         f' got shape {feature.shape}.')
    if temporal_dim < 1:
        raise ValueError(f'temporal_dim must be >= 1, got {temporal_dim}.')
    num_in = feature.shape[1]
    feature = feature.astype(np.float32, copy=False)
    if num_in == temporal_dim:
        return feature
    position = (np.arange(temporal_dim) + 0.5) * num_in / temporal_dim - 0.5
    position = np.clip(position, 0, num_in - 1)
    left = np.floor(position).astype(np.int64)
    right = np.minimum(left + 1, num_in - 1)
    weight = (position - left).astype(np.float32)
    return feature[:, left] * (1 - weight) + feature[:, right] * weight


@TRANSFORMS.register_module()
class ResizeFeature(BaseTransform):
    """Resample ``raw_feature`` (``C x T_video``) to a fixed length.

    Uses :func:`resize_feature` (linear interpolation, snippet centres
    aligned); does nothing when ``T_video == temporal_dim``.

    Required keys: ``raw_feature``. Modified keys: ``raw_feature``. Added
    keys: ``num_snippets`` (``T_video`` before resampling).

    Args:
        temporal_dim (int): Output length ``T``. Defaults to 100.
    """

    def __init__(self, temporal_dim: int = 100) -> None:
        if temporal_dim < 1:
            raise ValueError(f'temporal_dim must be >= 1, got {temporal_dim}.')
        self.temporal_dim = temporal_dim

    def transform(self, results: dict) -> dict:
        """Resample ``results['raw_feature']`` to ``temporal_dim``.

        Args:
            results (dict): The pipeline dict.

        Returns:
            dict: ``results`` with ``raw_feature`` of shape ``C x
            temporal_dim``.
        """
        feature = results['raw_feature']
        if feature.ndim != 2:
            raise ValueError(
                f'ResizeFeature expects raw_feature C x T, got shape '
                f'{feature.shape} (video '
                f'{results.get("video_name", "<unknown>")}).')
        results['num_snippets'] = feature.shape[1]
        results['raw_feature'] = resize_feature(feature, self.temporal_dim)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(temporal_dim={self.temporal_dim})'


@TRANSFORMS.register_module()
class LoadWindowFeature(LoadSnippetFeature):
    """Load the snippets of one window of a video, zero-padded.

    Reads rows ``window_start .. window_start + window_size`` of the
    ``T_video x C`` file named by ``results['feature_path']`` (``.npy``
    files are memory-mapped, so only the window is read; a ``.csv`` is
    read whole) and zero-pads past the end of the video. The file must
    have ``num_snippets`` rows, the count the windows were cut from.

    Required keys: ``feature_path``, ``window_start``, ``window_size``,
    ``num_snippets``. Added keys: ``raw_feature`` (``C x window_size``
    float32).

    Args:
        feat_dim (int, optional): Expected ``C``. Defaults to None.
    """

    def __init__(self, feat_dim: Optional[int] = None) -> None:
        super().__init__(feat_dim=feat_dim)

    def transform(self, results: dict) -> dict:
        """Read the window into ``results['raw_feature']``.

        Args:
            results (dict): The pipeline dict.

        Returns:
            dict: ``results`` with ``raw_feature`` (``C x window_size``).
        """
        path = results['feature_path']
        where = f'{path} (video {results.get("video_name", "<unknown>")})'
        feature = self.open(path, where, mmap=True)
        if feature.ndim != 2:
            raise ValueError(
                f'Feature file {where} holds an array of shape '
                f'{feature.shape}; expected 2-D T x C (snippets x channels).')
        expected = int(results['num_snippets'])
        if feature.shape[0] != expected:
            raise ValueError(
                f'Feature file {where} has {feature.shape[0]} snippets, but '
                f'the dataset cut its windows for {expected}; fix '
                'num_snippets in the video info file or re-extract the '
                'features.')
        results['raw_feature'] = self.read_window(
            feature, int(results['window_start']),
            int(results['window_size']), where)
        return results

    def read_window(self, feature: np.ndarray, start: int, size: int,
                    where: str) -> np.ndarray:
        """Rows ``start .. start + size`` of ``T x C`` features, checked
        (channels, NaN / Inf) and zero-padded past the end of the video.

        Returns:
            np.ndarray: ``C x size`` float32.
        """
        window = np.asarray(feature[start:start + size], dtype=np.float32)
        self._check(window, where)
        out = np.zeros((window.shape[1], size), dtype=np.float32)
        out[:, :window.shape[0]] = window.T
        return out

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(feat_dim={self.feat_dim})'
