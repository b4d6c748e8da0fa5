# Copyright (c) rcl_mm contributors. All rights reserved.
r"""Synthetic snippet features for real ActivityNet annotations.

No real snippet features ship with rcl_mm, so the demo pairs real
ActivityNet v1.3 annotations (``data/demo/anet_anno_demo.json``) with
features drawn from the generative model below. The features carry a
learnable signal tied to the annotated segments, so a localizer trained on
them learns something, while noise, weak videos and distractors keep the
task from being trivial.

The generative model
--------------------
Every video gets ``T = temporal_dim`` snippets of ``C = feat_dim``
channels. Snippet ``t`` covers ``[t, t + 1)`` on a grid spanning the
seconds covered by the features, ``D = feature_frame / duration_frame *
duration_second`` (the rule of mmaction2's ``GenerateLocalizationLabels``),
so a segment ``[s, e]`` seconds lies at ``[s T / D, e T / D]`` (clipped to
``[0, T]``). With unit directions in ``R^C`` (random Gaussian vectors,
normalised; each is drawn from its own generator seeded by ``(seed,
crc32(tag))``, so it depends only on the seed and its tag):

* ``a``: shared "actionness" direction (tag ``'action'``);
* ``p_c``: prototype of class ``c`` (tag ``'class:<label>'``);
* ``b``: background (tag ``'background'``);
* ``u``, ``v``: onset and offset signatures (tags ``'onset'``,
  ``'offset'``);
* ``q_j``: prototypes of 8 distractor kinds (tags ``'distractor:<j>'``),
  classes that are never annotated;

the features of a video are, per snippet ``t`` (a ``T x C`` matrix)::

    x_t = A * [ bg_gain * (1 - min(1, cov_t + dg * env_t)) * b
              + sum_k g_k * cov_k,t * unit(sw a + cw p_c(k) + yw r_k)
              + bd_gain * sum_k (N(t + 0.5; s_k, w) u + N(t + 0.5; e_k, w) v)
              + dg * sum_j env_j,t * unit(sw a + cw q_kind(j)) ]
          + z + n_t

where

* ``A = snr * noise_std`` is the signal amplitude of the video, with
  ``snr`` drawn log-uniformly from ``snr_range`` per video: some videos
  are easy, some hard;
* ``cov_k,t`` in [0, 1] is the fraction of snippet ``t`` covered by
  instance ``k`` (so boundaries carry sub-snippet information), ``cov_t``
  the sum over instances;
* ``g_k`` uniform in ``[1 - instance_jitter, 1 + instance_jitter]`` and
  ``r_k`` a random unit "style" direction per instance (weight ``yw =
  style_weight``) make instances of a class differ; ``sw =
  shared_weight``, ``cw = class_weight``;
* ``N(t; m, w) = exp(-(t - m)^2 / (2 w^2))`` places the onset signature
  at each start ``s_k`` and the offset signature at each end ``e_k``
  (grid units, width ``w = boundary_width`` snippets), scaled by
  ``bd_gain = boundary_gain``;
* distractors: ``Poisson(distractor_rate)`` segments per video, of
  ``distractor_length`` (fractions of the video), placed where at most
  half of their snippets are inside actions (up to 10 tries, else not
  placed); ``env_j`` is their coverage smoothed by a 5-snippet triangle
  (soft edges, no onset / offset signature); they look like a weaker
  (``dg = distractor_gain``) action of an unannotated class and partly
  replace the background, but carry no annotation;
* ``z`` is a per-video constant offset, ``N(0, scene_std^2)`` per channel;
* ``n_t`` is Gaussian noise, ``noise_std`` per channel, correlated over
  time as AR(1) with coefficient ``noise_corr`` (stationary variance).

Values are rounded to ``decimals`` places and stored as float32; the csv
holds the same numbers, so csv and npy load to identical arrays. Every
video has its own generator seeded by ``(seed, crc32(video_name))``: its
features depend only on the seed, its annotation and the settings, not on
which other videos are generated, and the same seed gives byte-identical
files.
"""
import dataclasses
import json
import os
import os.path as osp
import time
import zlib
from typing import Any, Dict, Iterable, Mapping, Optional, Tuple, Union

import numpy as np

from .anet_annotations import (atomic_write, check_video_info,
                               corrected_duration, dumps_by_video,
                               format_problems, load_json_strict,
                               to_activitynet_gt)

#: Number of distinct distractor kinds (unannotated pseudo-classes).
NUM_DISTRACTOR_KINDS = 8
#: Subset names of the demo annotation file and the files they go to.
SUBSET_FILES = (('training', 'anet_anno_train.json'),
                ('validation', 'anet_anno_val.json'))
#: Keys of mmaction2's annotation layout written to the split files.
ANNOTATION_KEYS = ('duration_second', 'duration_frame', 'feature_frame',
                   'annotations')
# Smoothing kernel of distractor envelopes (soft edges).
_TRIANGLE = np.array([1., 2., 3., 2., 1.]) / 9.


def _field(default: Any, help: str) -> Any:
    """A dataclass field with a help text for the CLI."""
    return dataclasses.field(default=default, metadata=dict(help=help))


@dataclasses.dataclass(frozen=True)
class SignalConfig:
    """Knobs of the generative model (see the module docstring).

    Every field has a CLI flag in ``tools/data/synthesize.py``
    (``snr_range`` -> ``--snr-range LOW HIGH``).
    """

    snr_range: Tuple[float, float] = _field(
        (0.5, 5.0), 'per-video signal amplitude / noise_std, drawn '
        'log-uniformly from [LOW, HIGH]')
    shared_weight: float = _field(
        1.0, 'weight of the class-agnostic action direction')
    class_weight: float = _field(1.0, 'weight of the class prototype')
    style_weight: float = _field(
        0.5, 'weight of a random per-instance direction')
    instance_jitter: float = _field(
        0.3, 'instance amplitude factor is uniform in [1 - j, 1 + j]')
    background_gain: float = _field(
        0.5, 'background pattern amplitude, relative to the action')
    boundary_gain: float = _field(
        1.0, 'onset / offset signature amplitude, relative to the action')
    boundary_width: float = _field(
        1.0, 'std (snippets) of the Gaussian onset / offset profiles')
    distractor_rate: float = _field(
        1.0, 'mean number of distractor segments per video (Poisson)')
    distractor_gain: float = _field(
        0.5, 'distractor amplitude, relative to the action')
    distractor_length: Tuple[float, float] = _field(
        (0.05, 0.25), 'distractor length range, as fractions of the video')
    noise_std: float = _field(1.0, 'noise std per channel')
    noise_corr: float = _field(
        0.5, 'AR(1) correlation of the noise between adjacent snippets')
    scene_std: float = _field(
        0.3, 'std per channel of a constant per-video offset')

    def __post_init__(self) -> None:
        low, high = self.snr_range
        if not 0 < low <= high:
            raise ValueError(f'snr_range must satisfy 0 < low <= high, got '
                             f'{self.snr_range}.')
        low, high = self.distractor_length
        if not 0 < low <= high <= 1:
            raise ValueError('distractor_length must satisfy 0 < low <= '
                             f'high <= 1, got {self.distractor_length}.')
        if not 0 <= self.noise_corr < 1:
            raise ValueError(
                f'noise_corr must be in [0, 1), got {self.noise_corr}.')
        if self.boundary_width <= 0:
            raise ValueError(
                f'boundary_width must be > 0, got {self.boundary_width}.')
        for name in ('noise_std', 'distractor_rate', 'instance_jitter',
                     'scene_std', 'style_weight'):
            if getattr(self, name) < 0:
                raise ValueError(f'{name} must be >= 0.')


def direction(tag: str, seed: int = 0, feat_dim: int = 400) -> np.ndarray:
    """The unit direction of a named pattern.

    Args:
        tag (str): ``'action'``, ``'background'``, ``'onset'``,
            ``'offset'``, ``'class:<label>'`` or ``'distractor:<j>'``.
        seed (int): The generator seed. Defaults to 0.
        feat_dim (int): ``C``. Defaults to 400.

    Returns:
        np.ndarray: Unit vector of shape ``(C,)``, float64.
    """
    rng = np.random.default_rng([seed, zlib.crc32(tag.encode('utf-8'))])
    vector = rng.standard_normal(feat_dim)
    return vector / np.linalg.norm(vector)


def _unit(vector: np.ndarray) -> np.ndarray:
    """Normalise the last axis to unit length."""
    return vector / np.linalg.norm(vector, axis=-1, keepdims=True)


def _coverage(starts: np.ndarray, ends: np.ndarray,
              temporal_dim: int) -> np.ndarray:
    """Fraction of each snippet inside each segment: ``(K, T)``."""
    t = np.arange(temporal_dim)
    overlap = (np.minimum(t + 1, ends[:, None]) -
               np.maximum(t, starts[:, None]))
    return np.clip(overlap, 0., 1.)


def _ar1_noise(rng: np.random.Generator, shape: Tuple[int, int],
               corr: float) -> np.ndarray:
    """Unit-variance Gaussian noise, AR(1)-correlated along axis 0."""
    noise = rng.standard_normal(shape)
    scale = np.sqrt(1. - corr**2)
    for t in range(1, shape[0]):
        noise[t] = corr * noise[t - 1] + scale * noise[t]
    return noise


def synthesize_video(video_name: str,
                     video_info: Mapping[str, Any],
                     seed: int = 0,
                     temporal_dim: int = 100,
                     feat_dim: int = 400,
                     signal: Optional[SignalConfig] = None
                     ) -> Tuple[np.ndarray, Dict[str, Any]]:
    """Draw the features of one video from the generative model.

    Args:
        video_name (str): Key of the video (seeds its generator).
        video_info (Mapping): Its entry in mmaction2's annotation layout.
        seed (int): Global seed. Defaults to 0.
        temporal_dim (int): ``T``. Defaults to 100.
        feat_dim (int): ``C``. Defaults to 400.
        signal (SignalConfig, optional): Model knobs; None uses defaults.

    Returns:
        tuple[np.ndarray, dict]: Features ``T x C`` (float64, unrounded)
        and the drawn latent values: ``snr`` and ``distractors`` (list of
        ``[start, end]`` in seconds).
    """
    signal = signal or SignalConfig()
    rng = np.random.default_rng(
        [seed, zlib.crc32(video_name.encode('utf-8'))])
    T, C = temporal_dim, feat_dim
    seconds = corrected_duration(video_info)
    to_grid = T / seconds
    instances = video_info['annotations']
    segments = np.array([a['segment'] for a in instances],
                        dtype=np.float64).reshape(-1, 2)
    starts = np.clip(segments[:, 0] * to_grid, 0, T)
    ends = np.clip(segments[:, 1] * to_grid, 0, T)
    num = len(instances)

    log_low, log_high = np.log(signal.snr_range)
    snr = float(np.exp(rng.uniform(log_low, log_high)))
    amplitude = snr * signal.noise_std
    gains = 1. + signal.instance_jitter * rng.uniform(-1, 1, num)
    styles = _unit(rng.standard_normal((num, C)))

    shared = direction('action', seed, C)
    classes = np.stack([direction(f'class:{a["label"]}', seed, C)
                        for a in instances]) if num else np.zeros((0, C))
    action_dirs = _unit(signal.shared_weight * shared +
                        signal.class_weight * classes +
                        signal.style_weight * styles)
    coverage = _coverage(starts, ends, T)  # (K, T)
    action_cov = coverage.sum(axis=0)

    # Distractors go where actions are not, so they compete with them.
    centres = np.arange(T) + 0.5
    distractor_env, distractor_dirs, distractor_sec = [], [], []
    low, high = signal.distractor_length
    for _ in range(rng.poisson(signal.distractor_rate)):
        kind = int(rng.integers(NUM_DISTRACTOR_KINDS))
        for _ in range(10):
            length = max(1., rng.uniform(low, high) * T)
            start = rng.uniform(0., T - length)
            hard = _coverage(np.array([start]), np.array([start + length]),
                             T)[0]
            if (hard * np.minimum(action_cov, 1.)).sum() <= hard.sum() / 2:
                distractor_env.append(np.convolve(hard, _TRIANGLE,
                                                  mode='same'))
                distractor_dirs.append(
                    _unit(signal.shared_weight * shared +
                          signal.class_weight *
                          direction(f'distractor:{kind}', seed, C)))
                distractor_sec.append(
                    [start / to_grid, (start + length) / to_grid])
                break
    envelope = np.asarray(distractor_env).reshape(-1, T)

    def bump(mean: np.ndarray) -> np.ndarray:
        """Gaussian profiles centred at ``mean`` (grid units): (K, T)."""
        return np.exp(-0.5 * ((centres - mean[:, None]) /
                              signal.boundary_width)**2)

    valid = ends > starts  # segments beyond the features leave no trace
    background = 1. - np.minimum(
        1., action_cov + signal.distractor_gain * envelope.sum(axis=0))
    profiles = np.concatenate([
        signal.background_gain * background[None],
        gains[:, None] * coverage,
        signal.boundary_gain * bump(starts[valid]).sum(0, keepdims=True),
        signal.boundary_gain * bump(ends[valid]).sum(0, keepdims=True),
        signal.distractor_gain * envelope,
    ])  # (P, T)
    directions = np.concatenate([
        direction('background', seed, C)[None], action_dirs.reshape(-1, C),
        direction('onset', seed, C)[None],
        direction('offset', seed, C)[None],
        np.asarray(distractor_dirs).reshape(-1, C)
    ])  # (P, C)
    features = amplitude * (profiles.T @ directions)
    features += signal.scene_std * rng.standard_normal(C)
    features += signal.noise_std * _ar1_noise(rng, (T, C),
                                              signal.noise_corr)
    return features, dict(snr=snr, distractors=distractor_sec)


def _select(annotations: Mapping[str, Mapping[str, Any]], subset: str,
            limit: Optional[int]) -> Dict[str, Mapping[str, Any]]:
    """The first ``limit`` videos of a subset, by name."""
    names = sorted(name for name, info in annotations.items()
                   if info.get('subset') == subset)
    if limit is not None:
        if limit > len(names):
            raise ValueError(f'Asked for {limit} {subset} videos, the '
                             f'annotations have {len(names)}.')
        names = names[:limit]
    return {name: annotations[name] for name in names}


def _write_csv(path: str, features: np.ndarray, decimals: int) -> None:
    """mmaction2's csv layout: a header row, then T rows of C values."""
    header = ','.join(f'f{i}' for i in range(features.shape[1]))
    with atomic_write(path, 'wb') as f:
        np.savetxt(f, features, fmt=f'%.{decimals}f', delimiter=',',
                   header=header, comments='')


def _write_npy(path: str, features: np.ndarray) -> None:
    """``T x C`` float32 npy."""
    with atomic_write(path, 'wb') as f:
        np.save(f, features)


def _write_text(path: str, text: str) -> None:
    """A UTF-8 text file, written atomically."""
    with atomic_write(path, 'w') as f:
        f.write(text)


def synthesize_features(annotations: Union[str, Mapping[str, Any]],
                        out_dir: str,
                        seed: int = 0,
                        temporal_dim: int = 100,
                        feat_dim: int = 400,
                        num_train: Optional[int] = None,
                        num_val: Optional[int] = None,
                        formats: Iterable[str] = ('csv', 'npy'),
                        decimals: int = 4,
                        signal: Optional[SignalConfig] = None,
                        **signal_kwargs) -> Dict[str, Any]:
    """Write a synthetic feature dataset in mmaction2's ActivityNet layout.

    Files under ``out_dir`` (each written atomically: a temporary file in
    the same folder, then ``os.replace``)::

        csv_mean_<T>/v_<id>.csv   T x C, one header row (f0,...,f<C-1>)
        npy/v_<id>.npy            the same values, T x C float32
        anet_anno_train.json      mmaction2 layout, the training videos
        anet_anno_val.json        mmaction2 layout, the validation videos
        anet_gt_val.json          official ActivityNet GT, validation
        synthesis_meta.json       seed, settings, per-video snr and
                                  distractor segments (seconds)

    Args:
        annotations (str | Mapping): Path to, or content of, an annotation
            file in mmaction2's layout whose entries also have ``subset``
            (``'training'`` or ``'validation'``), such as
            ``data/demo/anet_anno_demo.json``.
        out_dir (str): Output folder (created if needed).
        seed (int): Seed of every random draw. Defaults to 0.
        temporal_dim (int): Snippets per video ``T``. Defaults to 100.
        feat_dim (int): Channels ``C``. Defaults to 400.
        num_train (int, optional): Use the first ``num_train`` training
            videos by name; None uses all.
        num_val (int, optional): Same for validation videos.
        formats (Iterable[str]): Any of ``'csv'``, ``'npy'``. Defaults to
            both.
        decimals (int): Decimal places kept (csv and npy hold the same
            rounded values). Defaults to 4.
        signal (SignalConfig, optional): Generative model knobs.
        **signal_kwargs: Or the knobs as keywords (fields of
            :class:`SignalConfig`), when ``signal`` is None.

    Returns:
        dict: ``num_train``, ``num_val``, ``seconds`` (wall time) and
        ``files`` (number of files written).
    """
    began = time.perf_counter()
    if signal is None:
        signal = SignalConfig(**signal_kwargs)
    elif signal_kwargs:
        raise ValueError('Pass either signal or signal keywords, not both.')
    formats = tuple(formats)
    unknown = set(formats) - {'csv', 'npy'}
    if unknown or not formats:
        raise ValueError(f'formats must be a non-empty subset of (csv, npy),'
                         f' got {formats}.')
    source = '<annotations>'
    if isinstance(annotations, (str, os.PathLike)):
        source = str(annotations)
        annotations = load_json_strict(source)
    _check_annotations(annotations, source)

    splits = {
        subset: _select(annotations, subset, limit)
        for (subset, _), limit in zip(SUBSET_FILES, (num_train, num_val))
    }
    csv_dir = osp.join(out_dir, f'csv_mean_{temporal_dim}')
    npy_dir = osp.join(out_dir, 'npy')
    for folder, fmt in ((csv_dir, 'csv'), (npy_dir, 'npy')):
        if fmt in formats:
            os.makedirs(folder, exist_ok=True)
    os.makedirs(out_dir, exist_ok=True)

    latent, files = {}, 0
    for subset, videos in splits.items():
        for name, info in videos.items():
            features, drawn = synthesize_video(name, info, seed,
                                               temporal_dim, feat_dim,
                                               signal)
            features = np.round(features, decimals)
            if 'csv' in formats:
                _write_csv(osp.join(csv_dir, name + '.csv'), features,
                           decimals)
            if 'npy' in formats:
                _write_npy(osp.join(npy_dir, name + '.npy'),
                           features.astype(np.float32))
            files += len(formats)
            latent[name] = dict(subset=subset, **drawn)

    for subset, filename in SUBSET_FILES:
        content = {
            name: {key: info[key] for key in ANNOTATION_KEYS}
            for name, info in splits[subset].items()
        }
        _write_text(osp.join(out_dir, filename), dumps_by_video(content))
    gt = to_activitynet_gt(splits['validation'])
    _write_text(
        osp.join(out_dir, 'anet_gt_val.json'),
        json.dumps(gt, sort_keys=True) + '\n')
    meta = dict(
        seed=seed,
        temporal_dim=temporal_dim,
        feat_dim=feat_dim,
        decimals=decimals,
        signal=dataclasses.asdict(signal),
        videos=latent)
    _write_text(
        osp.join(out_dir, 'synthesis_meta.json'),
        json.dumps(meta, sort_keys=True, indent=1) + '\n')
    files += len(SUBSET_FILES) + 2
    return dict(
        num_train=len(splits['training']),
        num_val=len(splits['validation']),
        files=files,
        seconds=time.perf_counter() - began)


def _check_annotations(annotations: Any, source: str) -> None:
    """Every video valid, with a known subset; raise otherwise."""
    if not isinstance(annotations, Mapping) or not annotations:
        raise ValueError(f'{source}: expected a non-empty mapping of videos.')
    problems = {}
    subsets = {subset for subset, _ in SUBSET_FILES}
    for name, info in annotations.items():
        found = check_video_info(name, info)
        if isinstance(info, Mapping) and info.get('subset') not in subsets:
            found.append((None, f'subset must be one of {sorted(subsets)}, '
                          f'got {info.get("subset")!r}'))
        if found:
            problems[name] = found
    if problems:
        raise ValueError(format_problems(source, problems))


#: The shipped demo annotation subset (in a source checkout).
DEMO_ANN_FILE = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'data',
    'demo', 'anet_anno_demo.json')


def synthesize_demo_dataset(out_dir: str = 'data/demo/features',
                            seed: int = 0,
                            ann_file: Optional[str] = None,
                            **kwargs) -> Dict[str, Any]:
    """Write the demo dataset: :func:`synthesize_features` on the subset.

    Args:
        out_dir (str): Output folder. Defaults to ``'data/demo/features'``.
        seed (int): Seed. Defaults to 0.
        ann_file (str, optional): Annotation subset; None uses
            :data:`DEMO_ANN_FILE` (``data/demo/anet_anno_demo.json`` of the
            source checkout).
        **kwargs: Passed to :func:`synthesize_features`.

    Returns:
        dict: The summary of :func:`synthesize_features`.
    """
    ann_file = ann_file or DEMO_ANN_FILE
    if not osp.isfile(ann_file):
        raise FileNotFoundError(
            f'Demo annotation file {ann_file} not found; run from a source '
            'checkout of rcl_mm or pass ann_file.')
    return synthesize_features(ann_file, out_dir, seed=seed, **kwargs)
