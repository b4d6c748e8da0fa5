# Copyright (c) rcl_mm contributors. All rights reserved.
"""TADMetric: detection mAP and AR@AN in the training loop, DDP-correct."""
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from rcl_mm.models.task_modules import merge_window_proposals
from rcl_mm.registry import METRICS
from ..functional import (AR_AN, Predictions, ar_at_an,
                          average_recall_vs_proposals,
                          default_tiou_thresholds, detection_map,
                          fuse_class_scores, ground_truth_from_videos,
                          load_class_scores, results_json,
                          strip_video_prefix, write_json_atomic)


#: Soft-NMS of merged windows (THUMOS14 practice: Gaussian, alpha 0.3,
#: 200 detections per video).
MERGE_DEFAULTS = dict(
    soft_nms_alpha=0.3,
    soft_nms_low_threshold=0.,
    soft_nms_high_threshold=0.,
    top_k=200,
    # 'mmaction2' or 'gtad' (G-TAD's Soft_NMS), see merge_window_proposals.
    rule='mmaction2')


def _to_numpy(x) -> np.ndarray:
    if hasattr(x, 'detach'):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


@METRICS.register_module()
class TADMetric(BaseMetric):
    """Temporal action detection metric: AR@AN / AUC and detection mAP.

    Everything ``compute_metrics`` needs, ground truth included (from each
    sample's metainfo ``video_name``, ``duration_second`` and
    ``annotations``), goes into ``self.results``, which mmengine gathers
    from all ranks; the numbers do not depend on the number of processes.
    The numbers are those of the official ActivityNet evaluation
    (:mod:`rcl_mm.evaluation.functional`) on the results JSON this metric
    dumps, with videos in name order.

    Args:
        metric (str | Sequence[str]): ``'proposal'`` (AR@AN and AUC),
            ``'detection'`` (mAP at each tIoU and their mean) or both.
            Detection without ``class_scores`` is class-agnostic (every
            instance one class).
        dataset (str): ``'activitynet'`` (tIoU 0.5:0.05:0.95) or
            ``'thumos14'`` (0.3:0.1:0.7) for detection.
        tiou_thresholds (Sequence[float], optional): Overrides the
            dataset's detection thresholds.
        max_avg_proposals (int): The largest AN of AR@AN.
        ar_an (Sequence[int]): The ANs reported.
        class_scores (dict, optional): Classifier fusion:
            ``dict(file=..., format='auto', top_k=2)`` (see
            :func:`load_class_scores`); detections are labelled with the
            video's top-k classes, score = proposal score x class score.
        dump (str, optional): Write the official results JSON here (rank
            0, atomically). Labelled when ``class_scores`` is set.
        merge_windows (dict, optional): For windowed data (samples with
            ``window_start``, e.g. THUMOS14): the windows of each video,
            collected from all ranks, are concatenated and suppressed
            together by :func:`merge_window_proposals`:
            ``dict(soft_nms_alpha=0.3, soft_nms_low_threshold=0.,
            soft_nms_high_threshold=0., top_k=200)`` (missing keys take
            these values). Required when windows arrive.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): Prefix of the metric names, as in
            ``activitynet/AR@100`` (mmengine joins it with ``/``). Defaults
            to ``dataset``.
    """
    default_prefix: Optional[str] = None

    def __init__(self,
                 metric: Union[str, Sequence[str]] = 'proposal',
                 dataset: str = 'activitynet',
                 tiou_thresholds: Optional[Sequence[float]] = None,
                 max_avg_proposals: int = 100,
                 ar_an: Sequence[int] = AR_AN,
                 class_scores: Optional[dict] = None,
                 dump: Optional[str] = None,
                 merge_windows: Optional[dict] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(
            collect_device=collect_device,
            prefix=dataset if prefix is None else prefix)
        metrics = [metric] if isinstance(metric, str) else list(metric)
        for m in metrics:
            if m not in ('proposal', 'detection'):
                raise ValueError(f'TADMetric: unknown metric {m!r}; use '
                                 '"proposal" and/or "detection".')
        self.metrics = metrics
        self.tiou_thresholds = default_tiou_thresholds(
            dataset, tiou_thresholds)
        self.max_avg_proposals = max_avg_proposals
        self.ar_an = tuple(ar_an)
        if class_scores is not None:
            class_scores = dict(class_scores)
            if 'file' not in class_scores:
                raise ValueError('TADMetric: class_scores needs "file" '
                                 '(and optionally "format", "top_k").')
            unknown = set(class_scores) - {'file', 'format', 'top_k'}
            if unknown:
                raise KeyError(f'TADMetric: unknown class_scores keys '
                               f'{sorted(unknown)}; allowed: file, '
                               'format, top_k.')
        self.class_scores = class_scores
        self.dump = dump
        if merge_windows is not None:
            unknown = set(merge_windows) - set(MERGE_DEFAULTS)
            if unknown:
                raise KeyError(f'TADMetric: unknown merge_windows keys '
                               f'{sorted(unknown)}; known: '
                               f'{sorted(MERGE_DEFAULTS)}.')
            merge_windows = dict(MERGE_DEFAULTS, **merge_windows)
        self.merge_windows = merge_windows

    def process(self, data_batch: Any, data_samples: Sequence) -> None:
        """Keep each video's predictions and ground truth.

        Args:
            data_batch: Unused.
            data_samples (Sequence[dict]): Model outputs (as dicts) with
                ``pred_instances`` (``segments`` M x 2 seconds, ``scores``
                M) and the metainfo keys ``video_name``,
                ``duration_second``, ``annotations``.
        """
        for sample in data_samples:
            if not isinstance(sample, dict):
                sample = sample.to_dict()
            name = sample.get('video_name')
            if name is None:
                raise KeyError(
                    'TADMetric: a sample has no "video_name"; add it to '
                    'PackLocalizationInputs(meta_keys=...) of the test '
                    'pipeline.')
            if 'annotations' not in sample:
                raise KeyError(
                    f'TADMetric: video {name} has no "annotations" in its '
                    'metainfo; add "annotations" (and "duration_second") '
                    'to PackLocalizationInputs(meta_keys=...).')
            pred = sample.get('pred_instances')
            if pred is None:
                raise KeyError(f'TADMetric: video {name} has no '
                               '"pred_instances" (segments, scores).')
            annotations = [(tuple(float(x) for x in a['segment']),
                            a['label']) for a in sample['annotations']]
            duration = sample.get('duration_second')
            window_start = sample.get('window_start')
            self.results.append(
                dict(
                    video_id=strip_video_prefix(name),
                    window_start=(None if window_start is None else
                                  int(window_start)),
                    duration=None if duration is None else float(duration),
                    annotations=annotations,
                    segments=_to_numpy(pred['segments']).reshape(-1, 2),
                    scores=_to_numpy(pred['scores']).reshape(-1)))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """AR@AN / AUC and / or detection mAP of all videos.

        Args:
            results (list[dict]): What :meth:`process` kept, all ranks.

        Returns:
            dict[str, float]: ``AR@1``... ``AUC`` (percent);
            ``mAP@0.50``... ``average_mAP``.
        """
        if any(r.get('window_start') is not None for r in results):
            videos = self._merge_windows(results)
        else:
            # One entry per video (samplers may pad with repeats), by name
            # so that the order does not depend on the ranks.
            by_video = OrderedDict()
            for r in sorted(results, key=lambda r: r['video_id']):
                by_video.setdefault(r['video_id'], r)
            videos = list(by_video.values())
        ids = [r['video_id'] for r in videos]
        segments = [r['segments'] for r in videos]
        scores = [r['scores'] for r in videos]
        labels = None
        metrics = OrderedDict()

        if self.class_scores is None:
            gt = ground_truth_from_videos(
                [(r['video_id'], r['duration'],
                  [dict(segment=s, label='action')
                   for s, _ in r['annotations']]) for r in videos],
                'TADMetric')
            det_preds = self._predictions(ids, segments, scores,
                                          [np.zeros(len(s), np.int64)
                                           for s in scores], ['action'])
        else:
            gt = ground_truth_from_videos(
                [(r['video_id'], r['duration'],
                  [dict(segment=s, label=lab)
                   for s, lab in r['annotations']]) for r in videos],
                'TADMetric')
            segments, scores, labels, names = self._fuse(
                ids, segments, scores)
            # Classes without ground truth here are not evaluated (the
            # official code has no index for them): leave them out.
            known = set(gt.class_names)
            evaluated = np.array([n in known for n in names])
            keep = [evaluated[lab] for lab in labels]
            det_preds = self._predictions(
                ids, [s[k] for s, k in zip(segments, keep)],
                [s[k] for s, k in zip(scores, keep)],
                [lab[k] for lab, k in zip(labels, keep)], names)
        if 'proposal' in self.metrics:
            proposals = self._predictions(
                ids, [r['segments'] for r in videos],
                [r['scores'] for r in videos])
            ar = average_recall_vs_proposals(
                gt, proposals, self.max_avg_proposals)
            metrics.update(ar_at_an(ar, self.ar_an))
        if 'detection' in self.metrics:
            det = detection_map(gt, det_preds, self.tiou_thresholds,
                                'TADMetric')
            for t, m in zip(det['tiou_thresholds'], det['mAP']):
                metrics[f'mAP@{t:.2f}'] = float(m)
            metrics['average_mAP'] = det['average_mAP']
        if self.dump:
            names_per_video = None
            if labels is not None:
                names_per_video = [[names[i] for i in lab]
                                   for lab in labels]
            self._write_dump(
                results_json(ids, segments, scores, names_per_video))
        return metrics

    def _merge_windows(self, results: List[dict]) -> List[dict]:
        """One entry per video: its windows merged and Soft-NMS'd.

        Windows are deduplicated by ``(video, window_start)`` (samplers
        may repeat some to fill the last batch) and concatenated in window
        order, so the result does not depend on the number of ranks.
        """
        if self.merge_windows is None:
            raise ValueError(
                'TADMetric received windows of videos (samples with '
                '"window_start"); set merge_windows=dict(soft_nms_alpha=..., '
                'top_k=...) in the evaluator config so that the windows of '
                'each video are merged before Soft-NMS.')
        windows = OrderedDict()
        for r in sorted(results, key=lambda r: (r['video_id'],
                                                r['window_start'] or 0)):
            windows.setdefault((r['video_id'], r['window_start']), r)
        by_video = OrderedDict()
        for (vid, _), r in windows.items():
            by_video.setdefault(vid, []).append(r)
        merged_input = [
            torch.from_numpy(
                np.concatenate([
                    np.concatenate([w['segments'], w['scores'][:, None]],
                                   axis=1) for w in parts
                ]).reshape(-1, 3)) for parts in by_video.values()
        ]
        merged = merge_window_proposals(merged_input, **self.merge_windows)
        videos = []
        for parts, dets in zip(by_video.values(), merged):
            dets = dets.cpu().numpy().astype(np.float64)
            videos.append(
                dict(parts[0], window_start=None, segments=dets[:, :2],
                     scores=dets[:, 2]))
        return videos

    @staticmethod
    def _predictions(ids, segments, scores, labels=None,
                     names=()) -> Predictions:
        counts = [len(s) for s in scores]
        return Predictions(
            list(ids), np.repeat(np.arange(len(ids)), counts),
            np.concatenate(segments).reshape(-1, 2)
            if segments else np.zeros((0, 2)),
            np.concatenate(scores) if scores else np.zeros(0), list(names),
            np.concatenate(labels) if labels is not None and labels
            else None)

    def _fuse(self, ids, segments, scores):
        cfg = self.class_scores
        # All classes of the file: the top-k must not see the ground truth.
        table = load_class_scores(
            cfg['file'], cfg.get('format', 'auto'), None, ids)
        out_segments, out_scores, out_labels = [], [], []
        for vid, seg, score in zip(ids, segments, scores):
            s, sc, lab = fuse_class_scores(seg, score, table(vid),
                                           cfg.get('top_k', 2))
            out_segments.append(s)
            out_scores.append(sc)
            out_labels.append(lab)
        return out_segments, out_scores, out_labels, table.class_names

    def _write_dump(self, content: dict) -> None:
        write_json_atomic(self.dump, content)
        MMLogger.get_current_instance().info(
            f'Detections written to {self.dump}')
