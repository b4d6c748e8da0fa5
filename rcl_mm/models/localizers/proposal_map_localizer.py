# Copyright (c) rcl_mm contributors. All rights reserved.
"""A localizer composing backbone -> confidence head on a proposal map."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmaction.structures import ActionDataSample
from mmengine.model import BaseModel
from mmengine.structures import InstanceData
from torch import Tensor

from rcl_mm.models.builder import build_module
from rcl_mm.models.task_modules import (bmn_candidates, bmn_post_process,
                                        bmn_targets, bmn_video_duration,
                                        gtad_post_process,
                                        gtad_window_proposals, pad_segments,
                                        window_proposals)
from rcl_mm.registry import MODELS
from rcl_mm.models.localizers.state_dict_check import (check_state_dict,
                                                       upgrade_state_dict)
from rcl_mm.utils.config_check import check_dict_keys
from rcl_mm.utils.typing import ConfigType, OptConfigType, OptSampleList

DEFAULT_TEST_CFG = dict(
    soft_nms_alpha=0.4,
    soft_nms_low_threshold=0.5,
    soft_nms_high_threshold=0.9,
    top_k=100,
    feature_extraction_interval=16,
    # Sliding windows (THUMOS14): candidates kept per window; Soft-NMS
    # runs on the merged windows of a video in the metric / inference.
    window_top_k=100,
    # 'auto' ('triton' on CUDA where Triton is installed, else 'torch'),
    # 'torch' or 'triton' (one kernel for the whole Soft-NMS loop, CUDA;
    # see rcl_mm.models.task_modules.soft_nms).
    soft_nms_impl='auto',
    # 'bmn' (mmaction2's BMN.predict) or 'gtad' (the authors' G-TAD:
    # cls x reg scores and their Soft_NMS; every anchor of a window, see
    # gtad_post_process / gtad_window_proposals; the thresholds and
    # feature_extraction_interval are then unused).
    post_processing='bmn',
    # 'gtad' windows: candidates of this many snippets or more score 0
    # (G-TAD's 300 frames at 5 frames per snippet); None keeps all.
    max_proposal_snippets=None)

POST_PROCESSING_RULES = ('bmn', 'gtad')

#: Metainfo keys that mark a sample as one window of a longer video.
WINDOW_KEYS = ('window_start', 'valid_length', 'snippet_seconds')


def _our_loss(cfg: ConfigType) -> dict:
    """The loss config with ``BMNLoss`` read as ours.

    mmaction2's configs name BMN's loss ``BMNLoss``; mmaction2's class of
    that name returns one tuple, which our localizers cannot use, so the
    name (with or without a scope) means :class:`ProposalMapLoss` here.
    """
    cfg = dict(cfg)
    if str(cfg.get('type')).split('.')[-1] == 'BMNLoss':
        cfg['type'] = 'rcl_mm.ProposalMapLoss'
    return cfg


@MODELS.register_module()
class ProposalMapLocalizer(BaseModel):
    """Temporal action localizer on a D x T proposal map.

    The localizer owns the order of the data flow: the backbone turns
    B x C x T snippet features into boundary probabilities and a proposal
    map, the head turns the map into a B x 2 x D x T confidence map
    (tIoU regression, tIoU classification). Training targets are built here,
    vectorised on the device, from each sample's ``gt_instances.gt_bbox``
    (G x 2, normalised to [0, 1], as mmaction2's
    ``GenerateLocalizationLabels`` makes them). Prediction selects
    candidates, fuses scores and applies Soft-NMS, batched in torch, and
    returns segments in seconds.

    Args:
        backbone (dict): Backbone config, e.g. ``BMNBackbone``. It must
            expose ``temporal_dim``, ``duration_dim``, ``feat_dim`` and a
            D x T ``valid_mask`` buffer, and return a dict with ``start``,
            ``end`` and ``proposal_map``.
        head (dict): Confidence head config, e.g. ``PEMHead``.
        loss (dict): Loss config. Defaults to
            ``dict(type='ProposalMapLoss')``; ``'BMNLoss'`` is read as
            ``'ProposalMapLoss'`` (mmaction2's would not fit).
        test_cfg (dict, optional): Post-processing settings:
            ``soft_nms_alpha``, ``soft_nms_low_threshold``,
            ``soft_nms_high_threshold``, ``top_k`` and
            ``feature_extraction_interval`` (frames per snippet, for
            mmaction2's duration rule), ``window_top_k`` (candidates kept
            per window of windowed data, see :meth:`predict`) and
            ``soft_nms_impl`` (``'auto'``, ``'torch'`` or ``'triton'``, or
            a pick loop's TASK_UTILS config, see :func:`soft_nms`),
            ``post_processing`` (``'bmn'``, or ``'gtad'``: the authors'
            G-TAD rule, see
            :func:`gtad_post_process` and :func:`gtad_window_proposals`)
            and ``max_proposal_snippets`` (``'gtad'`` windows). Missing
            keys take BMN's ActivityNet values.
        data_preprocessor (dict, optional): Defaults to None, mmengine's
            ``BaseDataPreprocessor``.
        init_cfg (dict, optional): Initialisation config.
        allow_missing_keys (Sequence[str]): Key prefixes (e.g.
            ``'neck.'``) that a loaded checkpoint may lack: parts
            trained from scratch when fine-tuning from another model.
            Defaults to none: any missing, unexpected or misshapen key of
            a checkpoint raises :class:`CheckpointMismatchError`.
    """
    # Subclasses with more post-processing settings extend this.
    default_test_cfg = DEFAULT_TEST_CFG
    #: The keys of ``train_cfg``; None for a class that takes none.
    train_cfg_keys: Optional[Tuple[str, ...]] = None

    def __init__(self,
                 backbone: ConfigType,
                 head: ConfigType,
                 loss: ConfigType = dict(type='ProposalMapLoss'),
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptConfigType = None,
                 allow_missing_keys: Sequence[str] = ()) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.allow_missing_keys = tuple(allow_missing_keys)
        self.backbone = build_module(backbone)
        self.head = build_module(head)
        self.loss_module = build_module(_our_loss(loss))
        self.check_cfg_keys(test_cfg)
        self.test_cfg = dict(self.default_test_cfg, **(test_cfg or {}))
        if self.test_cfg['post_processing'] not in POST_PROCESSING_RULES:
            raise ValueError(
                'test_cfg.post_processing must be one of '
                f'{POST_PROCESSING_RULES}, got '
                f'{self.test_cfg["post_processing"]!r}.')

    @classmethod
    def check_cfg_keys(cls,
                       test_cfg: OptConfigType = None,
                       train_cfg: OptConfigType = None,
                       filename: Optional[str] = None) -> None:
        """Refuse a key of ``test_cfg`` or ``train_cfg`` that the class
        does not read (it would be ignored).

        The one check of these keys: the constructor runs it, and so does
        :func:`rcl_mm.utils.config_check.check_config_keys` on a config
        file before anything is built.

        Args:
            test_cfg (dict, optional): Keys of :attr:`default_test_cfg`.
            train_cfg (dict, optional): Keys of :attr:`train_cfg_keys`
                (not checked where that is None).
            filename (str, optional): The config file, named in the
                message.

        Raises:
            ConfigKeyError: One line naming the key, where it is, a close
                match and the allowed keys.
        """
        name = cls.__name__
        check_dict_keys(test_cfg, cls.default_test_cfg,
                        f'model.test_cfg ({name})', filename)
        if cls.train_cfg_keys is not None:
            check_dict_keys(train_cfg, cls.train_cfg_keys,
                            f'model.train_cfg ({name})', filename)

    @property
    def temporal_dim(self) -> int:
        """T, snippets per input window."""
        return self.backbone.temporal_dim

    @property
    def duration_dim(self) -> int:
        """D, anchor durations of the proposal map."""
        return self.backbone.duration_dim

    def forward(self,
                inputs: Union[Tensor, Sequence[Tensor]],
                data_samples: OptSampleList = None,
                mode: str = 'tensor') -> Union[Dict[str, Tensor], list,
                                               Tuple[Tensor, ...]]:
        """Dispatch to :meth:`loss`, :meth:`predict` or :meth:`_forward`.

        Args:
            inputs (Tensor | list[Tensor]): B x C x T features, or B
                tensors of C x T as mmaction2's ``PackLocalizationInputs``
                produces them.
            data_samples (list[ActionDataSample], optional): Annotations
                and meta information of the B videos.
            mode (str): ``'loss'``, ``'predict'`` or ``'tensor'``.

        Returns:
            dict | list | tuple: Losses, data samples with predictions, or
            the raw ``(confidence_map, start, end)``.
        """
        inputs = self._stack_inputs(inputs, data_samples)
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs)
        raise RuntimeError(f'Invalid mode "{mode}"; expected "loss", '
                           '"predict" or "tensor".')

    def _stack_inputs(self, inputs: Union[Tensor, Sequence[Tensor]],
                      data_samples: OptSampleList) -> Tensor:
        """Stack the batch and check it against the model's C and T."""
        names = [
            sample.metainfo.get('video_name', f'#{i}')
            for i, sample in enumerate(data_samples or [])
        ]
        expected = (self.backbone.feat_dim, self.temporal_dim)
        shapes = [tuple(x.shape) for x in inputs]
        bad = [i for i, shape in enumerate(shapes) if shape != expected]
        if bad:
            which = ', '.join(
                f'{names[i] if i < len(names) else "#%d" % i} '
                f'{shapes[i]}' for i in bad[:5])
            raise ValueError(
                f'Expected features of shape C x T = {expected}, got {which}. '
                'Check feat_dim and temporal_dim in the config, or resize '
                'the features to T snippets (ResizeFeature) in the '
                'pipeline.')
        if isinstance(inputs, Tensor):
            return inputs
        return torch.stack(list(inputs))

    def _forward(self, inputs: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Network outputs, as ``mmaction.models.BMN`` returns them.

        Args:
            inputs (Tensor): B x C x T features.

        Returns:
            tuple[Tensor]: ``confidence_map`` (B x 2 x D x T), ``start``
            (B x T) and ``end`` (B x T).
        """
        feats = self.backbone(inputs)
        confidence_map = self.head(feats['proposal_map'])
        return confidence_map, feats['start'], feats['end']

    def loss(self, inputs: Tensor,
             data_samples: List[ActionDataSample]) -> Dict[str, Tensor]:
        """Losses of a batch, each part under its own name.

        Args:
            inputs (Tensor): B x C x T features.
            data_samples (list[ActionDataSample]): Samples whose
                ``gt_instances.gt_bbox`` are G_i x 2 normalised segments.

        Returns:
            dict[str, Tensor]: ``loss_tem_start``, ``loss_tem_end``,
            ``loss_pem_reg``, ``loss_pem_cls``.
        """
        confidence_map, start, end = self._forward(inputs)
        gt_iou_map, gt_start, gt_end = self.build_targets(
            data_samples, inputs.device)
        return self.loss_module(confidence_map, start, end,
                                gt_iou_map.to(confidence_map.dtype),
                                gt_start.to(start.dtype),
                                gt_end.to(end.dtype),
                                self.backbone.valid_mask)

    def build_targets(self, data_samples: List[ActionDataSample],
                      device: torch.device) -> Tuple[Tensor, Tensor, Tensor]:
        """tIoU map and boundary targets of a batch, on ``device``.

        Returns:
            tuple[Tensor]: ``gt_iou_map`` (B x D x T), ``gt_start`` and
            ``gt_end`` (B x T).
        """
        gt_segments, gt_valid = self.gt_segments(data_samples, device)
        return bmn_targets(gt_segments, gt_valid, self.temporal_dim,
                           self.duration_dim)

    @staticmethod
    def gt_segments(data_samples: List[ActionDataSample],
                    device: torch.device) -> Tuple[Tensor, Tensor]:
        """The batch's ground-truth segments, padded to one tensor.

        Args:
            data_samples (list[ActionDataSample]): Samples with
                ``gt_instances.gt_bbox`` (G_i x 2, normalised).
            device (torch.device): Where the tensors go.

        Returns:
            tuple[Tensor, Tensor]: ``gt_segments`` (B x G x 2, float32,
            G the most of any sample) and ``gt_valid`` (B x G bool,
            False on padding), as :func:`pad_segments` returns them.
        """
        segments = [
            torch.as_tensor(
                sample.gt_instances.gt_bbox, dtype=torch.float32,
                device=device).reshape(-1, 2) for sample in data_samples
        ]
        return pad_segments(segments)

    def predict(self, inputs: Tensor,
                data_samples: List[ActionDataSample]) -> List[
                    ActionDataSample]:
        """Detections of every video in the batch, in seconds.

        Args:
            inputs (Tensor): B x C x T features.
            data_samples (list[ActionDataSample]): Samples whose metainfo
                holds ``duration_second`` (and, for mmaction2's duration
                rule, ``duration_frame``).

        Returns:
            list[ActionDataSample]: The samples' metainfo with
            ``pred_instances`` (``segments`` M x 2 in seconds, ``scores``
            M, sorted by score) and ``proposal_list`` (the same as
            ``[{'segment': [s, e], 'score': x}]``, the form mmaction2's
            ``ANetMetric`` reads).

        Windows of a longer video (metainfo with ``window_start``,
        ``valid_length``, ``snippet_seconds``, as
        :class:`rcl_mm.datasets.ThumosFeatureDataset` makes them) get no
        Soft-NMS here: each window's ``window_top_k`` best candidates, in
        video seconds (:func:`window_proposals`), are merged per video and
        suppressed by the metric or by
        :func:`rcl_mm.apis.detect_actions`.
        """
        if self.is_windowed(data_samples):
            return self._predict_windows(inputs, data_samples)
        confidence_map, start, end = self._forward(inputs)
        if self.test_cfg['post_processing'] == 'gtad':
            detections = gtad_post_process(
                start, end, confidence_map,
                self._video_durations(data_samples, inputs.device),
                self.test_cfg['soft_nms_alpha'], self.test_cfg['top_k'])
        else:
            detections = bmn_post_process(
                start, end, confidence_map,
                self._video_durations(data_samples, inputs.device),
                **self._soft_nms_cfg())
        return self._pack_results(data_samples, detections)

    def _soft_nms_cfg(self) -> dict:
        """The Soft-NMS and top-k keyword arguments of ``test_cfg``, as
        :func:`bmn_post_process` and :func:`post_process_proposals` take
        them."""
        keys = ('soft_nms_alpha', 'soft_nms_low_threshold',
                'soft_nms_high_threshold', 'top_k', 'soft_nms_impl')
        return {key: self.test_cfg[key] for key in keys}

    def _video_durations(self, data_samples: List[ActionDataSample],
                         device: torch.device) -> Tensor:
        """(B,) float64 seconds spanned by each video's snippets."""
        return torch.tensor(
            [self._video_duration(s.metainfo) for s in data_samples],
            dtype=torch.float64, device=device)

    def window_candidates(self,
                          inputs: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Candidates of each window, before any NMS.

        Args:
            inputs (Tensor): B x C x T window features.

        Returns:
            tuple[Tensor]: ``segments`` B x K x 2 in [0, 1] of the window,
            ``scores`` B x K and ``valid`` B x K (see
            :func:`bmn_candidates`).
        """
        confidence_map, start, end = self._forward(inputs)
        return bmn_candidates(start, end, confidence_map)

    @staticmethod
    def is_windowed(data_samples: List[ActionDataSample]) -> bool:
        """Whether the samples are windows of longer videos."""
        flags = {all(k in s.metainfo for k in WINDOW_KEYS)
                 for s in data_samples}
        if len(flags) > 1:
            raise ValueError('A batch mixes windows (metainfo with '
                             f'{WINDOW_KEYS}) and whole videos.')
        return flags == {True}

    def _predict_windows(self, inputs: Tensor,
                         data_samples: List[ActionDataSample]
                         ) -> List[ActionDataSample]:
        """:meth:`window_detections` of the windows, packed as results.

        Args:
            inputs (Tensor): B x C x T window features.
            data_samples (list[ActionDataSample]): B windows.
        """
        meta = [s.metainfo for s in data_samples]
        detections = self.window_detections(
            inputs, [m['window_start'] for m in meta],
            [m['valid_length'] for m in meta],
            [m['snippet_seconds'] for m in meta])
        return self._pack_results(data_samples, detections)

    def window_detections(self, inputs: Tensor, window_start: Sequence[int],
                          valid_length: Sequence[int],
                          snippet_seconds: Sequence[float]) -> List[Tensor]:
        """Each window's detections in video seconds, before the merge.

        ``post_processing='bmn'``: the ``window_top_k`` best candidates of
        :meth:`window_candidates`, no NMS (:func:`window_proposals`).
        ``'gtad'``: G-TAD's per-window Soft_NMS of every anchor
        (:func:`gtad_window_proposals`, ``window_top_k`` picks). Either
        way the windows of a video are merged afterwards
        (:func:`merge_window_proposals`).

        Args:
            inputs (Tensor): B x C x T window features.
            window_start (Sequence[int]): (B,) first snippets.
            valid_length (Sequence[int]): (B,) snippets of the video in
                each window.
            snippet_seconds (Sequence[float]): (B,) seconds per snippet.

        Returns:
            list[Tensor]: B tensors (M_b, 3): start, end seconds, score.
        """
        if self.test_cfg['post_processing'] == 'gtad':
            confidence_map, _, _ = self._forward(inputs)
            return gtad_window_proposals(
                confidence_map, window_start, snippet_seconds,
                self.test_cfg['soft_nms_alpha'],
                self.test_cfg['window_top_k'],
                self.test_cfg['max_proposal_snippets'], valid_length)
        segments, scores, valid = self.window_candidates(inputs)
        return window_proposals(segments, scores, valid, window_start,
                                valid_length, self.temporal_dim,
                                snippet_seconds,
                                self.test_cfg['window_top_k'])

    def _video_duration(self, metainfo: dict) -> float:
        """Seconds that the T snippets of a video span.

        mmaction2's rule: features cover ``duration_frame // interval *
        interval`` of the ``duration_frame`` frames. Without
        ``duration_frame`` (e.g. features of a new video), the whole
        ``duration_second``. G-TAD's rule (``post_processing='gtad'``)
        writes the same formula with Python 3's true division, ``float(
        (frames / 16) * 16) / frames * seconds``: the whole duration, to
        rounding; it is transcribed as such.
        """
        if 'duration_second' not in metainfo:
            raise KeyError(
                f'Video {metainfo.get("video_name", "?")} has no '
                '"duration_second" in its metainfo; add it to '
                'PackLocalizationInputs(meta_keys=...) in the test pipeline.')
        if 'duration_frame' not in metainfo:
            return float(metainfo['duration_second'])
        if self.test_cfg['post_processing'] == 'gtad':
            frames = float(metainfo['duration_frame'])
            return float((frames / 16) * 16) / frames * float(
                metainfo['duration_second'])
        return bmn_video_duration(
            metainfo['duration_second'], metainfo['duration_frame'],
            self.test_cfg['feature_extraction_interval'])

    def _pack_results(self, data_samples: List[ActionDataSample],
                      detections: List[Tensor]) -> List[ActionDataSample]:
        """Data samples with ``pred_instances`` and ``proposal_list``."""
        results = []
        for sample, dets in zip(data_samples, detections):
            dets = dets.cpu()
            result = ActionDataSample(metainfo=sample.metainfo)
            result.pred_instances = InstanceData(
                segments=dets[:, :2].float(), scores=dets[:, 2].float())
            result.proposal_list = [
                dict(segment=[s, e], score=score)
                for s, e, score in dets.tolist()
            ]
            results.append(result)
        return results

    def _load_from_state_dict(self, state_dict, prefix, local_metadata,
                              strict, missing_keys, unexpected_keys,
                              error_msgs):
        # mmengine and torch both call this first on the model itself
        # (prefix '') with the whole state dict, before its children read
        # their parts from it: old key names are mapped, then it is all
        # checked here, as mmengine's strict=False would only log a
        # mismatch.
        if prefix == '':
            upgrade_state_dict(state_dict)
            check_state_dict(self.state_dict(), state_dict,
                             self.allow_missing_keys, type(self).__name__)
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)


@MODELS.register_module()
class BMN(ProposalMapLocalizer):
    """BMN, built from ``mmaction.models.BMN``'s arguments.

    `BMN: Boundary-Matching Network for Temporal Action Proposal Generation
    <https://arxiv.org/abs/1907.09702>`_. Takes exactly the arguments of
    mmaction2's BMN, so an mmaction2 config runs with ``type='BMN'``
    changed to ``type='rcl_mm.BMN'``; it is a
    :class:`ProposalMapLocalizer` with a :class:`BMNBackbone`, a
    :class:`PEMHead` and our :class:`ProposalMapLoss`. Parameters are those of
    mmaction2's BMN under the names that
    :func:`rcl_mm.utils.convert_mmaction2_bmn` maps.

    Args:
        temporal_dim (int): T (and D) of the grid.
        boundary_ratio (float): Widening of each anchor's region.
        num_samples (int): Bins per anchor.
        num_samples_per_bin (int): Points per bin.
        feat_dim (int): Input feature channels.
        soft_nms_alpha (float): Gaussian Soft-NMS alpha.
        soft_nms_low_threshold (float): Soft-NMS low threshold.
        soft_nms_high_threshold (float): Soft-NMS high threshold.
        post_process_top_k (int): Detections kept per video.
        feature_extraction_interval (int): Frames per snippet. Defaults to
            16.
        loss_cls (dict): Loss config. ``'BMNLoss'`` means ours,
            :class:`ProposalMapLoss` (each part logged); mmaction2's
            returns one tuple. Defaults to ``dict(type='BMNLoss')``.
        hidden_dim_1d (int): Defaults to 256.
        hidden_dim_2d (int): Defaults to 128.
        hidden_dim_3d (int): Defaults to 512.
        data_preprocessor (dict, optional): Defaults to None.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 temporal_dim: int,
                 boundary_ratio: float,
                 num_samples: int,
                 num_samples_per_bin: int,
                 feat_dim: int,
                 soft_nms_alpha: float,
                 soft_nms_low_threshold: float,
                 soft_nms_high_threshold: float,
                 post_process_top_k: int,
                 feature_extraction_interval: int = 16,
                 loss_cls: ConfigType = dict(type='BMNLoss'),
                 hidden_dim_1d: int = 256,
                 hidden_dim_2d: int = 128,
                 hidden_dim_3d: int = 512,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptConfigType = None) -> None:
        # ProposalMapLocalizer reads 'BMNLoss' as ours (_our_loss).
        super().__init__(
            backbone=dict(
                type='BMNBackbone',
                feat_dim=feat_dim,
                temporal_dim=temporal_dim,
                boundary_ratio=boundary_ratio,
                num_samples=num_samples,
                num_samples_per_bin=num_samples_per_bin,
                hidden_dim_1d=hidden_dim_1d,
                hidden_dim_3d=hidden_dim_3d),
            head=dict(
                type='PEMHead',
                in_channels=hidden_dim_3d,
                hidden_channels=hidden_dim_2d),
            loss=loss_cls,
            test_cfg=dict(
                soft_nms_alpha=soft_nms_alpha,
                soft_nms_low_threshold=soft_nms_low_threshold,
                soft_nms_high_threshold=soft_nms_high_threshold,
                top_k=post_process_top_k,
                feature_extraction_interval=feature_extraction_interval),
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
