# Copyright (c) rcl_mm contributors. All rights reserved.
"""RCL: backbone -> CAR head -> RRM neck, on a proposal map."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmaction.structures import ActionDataSample
from torch import Tensor

from rcl_mm.models.builder import build_module, build_task_util
from rcl_mm.models.task_modules import (ScaleInvariantAnchors,
                                        anchor_candidates, cls_reg_scores,
                                        continuous_iou_targets,
                                        nearest_anchor, post_process_proposals)
from rcl_mm.registry import MODELS
from rcl_mm.utils.typing import ConfigType, OptConfigType

from .proposal_map_localizer import DEFAULT_TEST_CFG, ProposalMapLocalizer

RCL_DEFAULT_TEST_CFG = dict(
    DEFAULT_TEST_CFG,
    anchors='grid',
    # 'supplement': every anchor a candidate, scored reg x cls of G_n;
    # 'bmn': BMN's boundary rule and p_start x p_end x reg x cls.
    scoring='supplement',
    num_scales=16,
    min_duration=1.0,
    stride_ratio=0.25)
#: The string forms of ``test_cfg.anchors`` (a dict builds an anchor set
#: from TASK_UTILS, e.g. ``dict(type='ScaleInvariantAnchors', ...)``).
ANCHOR_SETS = ('grid', 'scale_invariant')
SCORING_RULES = ('supplement', 'bmn')
DEFAULT_SAMPLER = dict(
    num_random=256, num_jitter=8, min_duration=1.0, jitter_ratio=0.25)


@MODELS.register_module()
class RCLLocalizer(ProposalMapLocalizer):
    """RCL on a proposal-map detector (BMN): CAR head and RRM neck.

    `RCL: Recurrent Continuous Localization for Temporal Action Detection
    <https://arxiv.org/abs/2203.07112>`_. The backbone (e.g.
    :class:`BMNBackbone`) gives the boundary probabilities and the
    proposal map; :class:`RCLHead` turns the map into features F and the
    dense logit map G_0 and scores any continuous segment; the neck,
    :class:`RRMRefiner`, refines G_0 into G_1 .. G_n with F. Inference
    uses G_n. The data flow is backbone -> head -> neck.

    Scoring (``test_cfg['scoring']``). ``'supplement'`` (default), as the
    RCL supplement has it ("G-TAD and our RCL utilize this module [the
    boundary probabilities] to regularize the training process"): every
    anchor is a candidate, scored ``reg x cls`` (G-TAD's score,
    :func:`anchor_candidates`), then Soft-NMS; the boundary
    probabilities are trained (TEM loss) and not used at inference.
    ``'bmn'``: BMN's rule, the boundary probabilities pick the candidates
    (start / end peaks) and weigh their scores,
    ``p_start x p_end x reg x cls``.

    Training losses, each logged under its own name: ``loss_tem_start``,
    ``loss_tem_end`` and ``loss_pem_reg`` / ``loss_pem_cls`` (G_0 on the
    grid, as BMN), ``loss_car_reg`` / ``loss_car_cls`` (the head on
    scale-invariant continuous samples with exact tIoU targets, when
    ``train_cfg['sampler']`` is set) and ``loss_rrm_it<t>_reg`` /
    ``_cls`` (the sequence loss of the refined maps). Each loss has one
    owner: the head's :meth:`RCLHead.loss_by_feat` (G_0) and
    :meth:`RCLHead.segment_loss_by_feat` (CAR), the neck's
    :meth:`RRMRefiner.loss_by_feat` (with its
    :meth:`RRMRefiner.stage_weights`), the boundary loss the criterion's
    ``tem_loss``; :meth:`loss` builds the targets once and collects them.

    Weight compatibility: the backbone and the head's ``convs`` and
    ``out`` have the names and shapes of :class:`BMN`'s, so a checkpoint
    of ``mmaction.models.BMN`` converted by
    :func:`rcl_mm.utils.convert_mmaction2_bmn` initialises them (the rest
    starts so that the model's map equals BMN's).

    Args:
        backbone (dict): Backbone config, e.g. ``BMNBackbone``.
        head (dict): ``RCLHead`` config.
        neck (dict): ``RRMRefiner`` config (its ``update_block``:
            ``'light'`` or the supplement's ``'raft_small'``). Defaults to
            ``dict(type='RRMRefiner')``. Configs and checkpoints from
            before the neck was named so (``refiner``) are refused with a
            message (the config) or mapped (the checkpoint's keys, see
            :func:`upgrade_state_dict`).
        loss (dict): Defaults to ``dict(type='RCLLoss')``.
        train_cfg (dict, optional): ``sampler``: a sampler config built
            from TASK_UTILS (type :class:`ScaleInvariantSampler` if not
            given, so the arguments of :func:`scale_invariant_samples`
            alone, ``num_random``, ``num_jitter``, ``min_duration``,
            ``jitter_ratio``, still configure it; a registered type of
            one's own is called the same way), or None to train on the
            grid only. Defaults to ``dict(sampler=DEFAULT_SAMPLER)``.
        test_cfg (dict, optional): :class:`ProposalMapLocalizer`'s keys
            plus ``anchors`` (``'grid'``: the cells of G_n;
            ``'scale_invariant'``: the anchors of
            :func:`scale_invariant_anchors` with ``num_scales``,
            ``min_duration``, ``stride_ratio``; or an anchor-set config
            built from TASK_UTILS, e.g. ``dict(type=
            'ScaleInvariantAnchors', num_scales=8)``, whose anchors are
            scored by :meth:`score_segments`) and ``scoring``
            (``'supplement'`` or ``'bmn'``, see above).
        data_preprocessor (dict, optional): Defaults to None.
        init_cfg (dict, optional): Initialisation config.
        allow_missing_keys (Sequence[str]): See
            :class:`ProposalMapLocalizer`.
    """
    default_test_cfg = RCL_DEFAULT_TEST_CFG
    train_cfg_keys = ('sampler', )

    def __init__(self,
                 backbone: ConfigType,
                 head: ConfigType,
                 neck: ConfigType = dict(type='RRMRefiner'),
                 loss: ConfigType = dict(type='RCLLoss'),
                 train_cfg: OptConfigType = dict(sampler=DEFAULT_SAMPLER),
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptConfigType = None,
                 allow_missing_keys: Sequence[str] = ()) -> None:
        super().__init__(
            backbone=backbone,
            head=head,
            loss=loss,
            test_cfg=test_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg,
            allow_missing_keys=allow_missing_keys)
        self.neck = build_module(neck)
        self.check_cfg_keys(train_cfg=train_cfg)
        sampler = (train_cfg or {}).get('sampler')
        self.sampler = None if sampler is None else build_task_util(
            sampler, 'ScaleInvariantSampler')
        if self.test_cfg['scoring'] not in SCORING_RULES:
            raise ValueError(f'test_cfg.scoring must be one of '
                             f'{SCORING_RULES}, got '
                             f"{self.test_cfg['scoring']!r}")
        # A bad test_cfg.anchors fails here, not at the first test.
        _ = self.anchor_set
        if self.test_cfg['post_processing'] != 'bmn':
            # RCL's scoring is test_cfg.scoring; its Soft-NMS and top-k
            # are BMN's ("other settings are maintained the same as those
            # for BMN", supplement), whatever the backbone.
            raise ValueError("RCLLocalizer post-processes as BMN: "
                             "test_cfg['post_processing'] must be 'bmn' "
                             "(choose the scoring with test_cfg.scoring), "
                             f"got {self.test_cfg['post_processing']!r}")

    def extract(self, inputs: Tensor,
                iters: int = None) -> Tuple[dict, Tensor, Tensor, list]:
        """Backbone outputs, F, G_0 and the refined maps.

        Args:
            inputs (Tensor): B x C_in x T features.
            iters (int, optional): RRM iterations; the neck's default if
                None.

        Returns:
            tuple: ``feats`` (the backbone's dict), ``terms`` (the head's
            cell terms of F, B x (2 + M) x D x T, which segments are scored
            from), ``logits`` G_0 (B x 2 x D x T) and ``maps``
            ``[G_1, ..., G_n]`` (logits).
        """
        feats = self.backbone(inputs)
        feat = self.head.features(feats['proposal_map'])
        terms, neck_features = self.read_features(feat, iters)
        logits = self.head.grid_logits(terms, feats['proposal_map'])
        maps = self.neck(feat, logits, iters=iters, features=neck_features)
        return feats, terms, logits, maps

    def read_features(self, feat: Tensor,
                      iters: int = None) -> Tuple[Tensor, Optional[tuple]]:
        """The head's cell terms and the neck's readings of F, in one read
        of F where the neck shares it (:meth:`RRMRefiner.read_shared`;
        its saving is measured in docs/benchmark.md), else each module
        reading F itself.

        Args:
            feat (Tensor): B x C x D x T, F.
            iters (int, optional): RRM iterations to come.

        Returns:
            tuple: the cell terms (:meth:`RCLHead.cell_terms`) and
            :meth:`RRMRefiner.read_features` of F, or None where the
            neck is to read F itself.
        """
        shared = self.neck.read_shared(feat, self.head.cell_weights(), iters)
        if shared is None:
            return self.head.cell_terms(feat), None
        return shared

    def _forward(self, inputs: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """``(sigmoid(G_n), start, end)``, as :class:`BMN` returns them.

        Args:
            inputs (Tensor): B x C_in x T features.

        Returns:
            tuple[Tensor]: B x 2 x D x T confidences, B x T start and end.
        """
        feats, _, logits, maps = self.extract(inputs)
        final = maps[-1] if maps else logits
        return final.sigmoid(), feats['start'], feats['end']

    def segment_logits(self, feats: dict, terms: Tensor,
                       segments: Tensor) -> Tensor:
        """The head's B x 2 x K logits of B x K x 2 boundary segments;
        ``terms`` from :meth:`extract`."""
        segment_feat = None
        if self.head.needs_segment_features:
            segment_feat = self.backbone.segment_features(
                feats['proposal_feat'], segments)
        return self.head.segment_logits(terms, segments, segment_feat)

    def loss(self, inputs: Tensor,
             data_samples: List[ActionDataSample]) -> Dict[str, Tensor]:
        """Losses of a batch, each part under its own name.

        Args:
            inputs (Tensor): B x C_in x T features.
            data_samples (list[ActionDataSample]): Samples with
                ``gt_instances.gt_bbox`` (G_i x 2, normalised).

        Returns:
            dict[str, Tensor]: See the class docstring.
        """
        feats, terms, logits, maps = self.extract(inputs)
        gt_iou_map, gt_start, gt_end = self.build_targets(
            data_samples, inputs.device)
        # One set of targets for G_0 .. G_n, in float32 (the refined maps'
        # precision) whatever an autocast made of G_0.
        criterion = self.loss_module
        map_targets = criterion.map_targets(gt_iou_map.float(),
                                            self.backbone.valid_mask)
        # In this order: the random draws (the map losses' anchor sampling,
        # the segment sampler) and the keys' order are those of the
        # checkpoints trained so far.
        losses = self.head.loss_by_feat(logits, map_targets, criterion)
        losses.update(
            criterion.tem_loss(feats['start'], feats['end'],
                               gt_start.to(feats['start'].dtype),
                               gt_end.to(feats['end'].dtype)))
        if self.sampler is not None:
            gt_segments, gt_valid = self.gt_segments(data_samples,
                                                     inputs.device)
            segments, valid = self.sampler(gt_segments, gt_valid,
                                           self.temporal_dim,
                                           self.duration_dim)
            gt_iou = continuous_iou_targets(segments, gt_segments, gt_valid,
                                            self.temporal_dim)
            losses.update(
                self.head.segment_loss_by_feat(
                    self.segment_logits(feats, terms, segments), gt_iou,
                    valid, criterion))
        losses.update(self.neck.loss_by_feat(maps, map_targets, criterion))
        return losses

    @property
    def anchor_set(self) -> Optional[object]:
        """The anchor set ``test_cfg['anchors']`` names, None for
        ``'grid'`` (G_n's cells, read from the map).

        ``'scale_invariant'`` is :class:`ScaleInvariantAnchors` with
        ``test_cfg``'s ``num_scales``, ``min_duration`` and
        ``stride_ratio``; a dict is built from TASK_UTILS. Read from
        ``test_cfg`` at each use, so a changed setting takes effect.
        """
        anchors = self.test_cfg['anchors']
        if isinstance(anchors, str):
            if anchors not in ANCHOR_SETS:
                raise ValueError(f'test_cfg.anchors must be one of '
                                 f'{ANCHOR_SETS} or an anchor-set config '
                                 f'(TASK_UTILS), got {anchors!r}')
            if anchors == 'grid':
                return None
            return self._scale_invariant_anchors()
        return build_task_util(anchors)

    def _scale_invariant_anchors(self) -> ScaleInvariantAnchors:
        """:class:`ScaleInvariantAnchors` with ``test_cfg``'s
        ``num_scales``, ``min_duration`` and ``stride_ratio``."""
        cfg = self.test_cfg
        return ScaleInvariantAnchors(cfg['num_scales'], cfg['min_duration'],
                                     cfg['stride_ratio'])

    def inference_anchors(self, device: torch.device) -> Tensor:
        """The anchors of :attr:`anchor_set` (the scale-invariant set of
        ``test_cfg`` for ``'grid'``), K x 2 in snippet-boundary units."""
        anchor_set = self.anchor_set
        if anchor_set is None:
            anchor_set = self._scale_invariant_anchors()
        return anchor_set(self.temporal_dim, self.duration_dim, device)

    def score_segments(self, inputs: Tensor,
                       segments: Tensor) -> Tuple[Tensor, Tensor]:
        """Refined confidences and detection scores of any segments.

        The head scores each segment; the RRM's correction
        ``G_n - G_0`` at its nearest cell is added in logit space (on the
        grid this is G_n exactly). The detection score is ``reg * cls``
        (``scoring='supplement'``, taken as :func:`cls_reg_scores` takes
        it) or ``start(s) * end(e) * reg * cls`` (``'bmn'``) with the
        boundary probabilities interpolated linearly at the segment's real
        boundaries (BMN reads ``start[t]`` and ``end[t + d + 1]`` for the
        cell ``[t, t + d + 1]``).

        Args:
            inputs (Tensor): B x C_in x T features.
            segments (Tensor): B x K x 2 in snippet-boundary units.

        Returns:
            tuple[Tensor, Tensor]: confidences B x 2 x K and scores B x K
            (float64 for ``'supplement'``, float32 on MPS).
        """
        feats, terms, logits, maps = self.extract(inputs)
        seg_logits = self.segment_logits(feats, terms, segments)
        if maps:
            num_d, num_t = logits.shape[-2:]
            d_idx, t_idx, _ = nearest_anchor(segments, num_t, num_d)
            flat = (d_idx * num_t + t_idx)[:, None, :].expand(-1, 2, -1)
            correction = (maps[-1] - logits).flatten(2).gather(2, flat)
            seg_logits = seg_logits + correction
        confidences = seg_logits.sigmoid()
        if self.test_cfg['scoring'] == 'supplement':
            return confidences, cls_reg_scores(confidences[:, 0],
                                               confidences[:, 1])
        bounds = _interp(feats['start'], segments[..., 0]) * _interp(
            feats['end'], segments[..., 1])
        return confidences, bounds * confidences[:, 0] * confidences[:, 1]

    def grid_candidates(
            self, confidence_map: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """The supplement's candidates on the grid: every valid cell of the
        backbone's ``valid_mask`` (``t + d + 1 <= T``), scored ``reg x cls``
        (:func:`anchor_candidates`).

        Args:
            confidence_map (Tensor): B x 2 x D x T, sigmoid(G_n).

        Returns:
            tuple[Tensor]: ``segments`` B x K x 2 in [0, 1] of the window
            (``[t / T, (t + d + 1) / T]``, as :func:`bmn_candidates`),
            ``scores`` B x K, ``valid`` B x K (all True); float64.
        """
        positions, scores = anchor_candidates(confidence_map,
                                              self.backbone.valid_mask)
        segments = (positions / self.temporal_dim).expand(
            scores.size(0), -1, -1)
        return segments, scores, torch.ones_like(scores, dtype=torch.bool)

    def window_candidates(self,
                          inputs: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Candidates of each window (or video) before any NMS, as
        ``test_cfg`` selects them (``anchors`` x ``scoring``); segments in
        [0, 1] of the window.

        - ``'grid'``, ``'supplement'``: :meth:`grid_candidates` of G_n;
        - ``'grid'``, ``'bmn'``: BMN's candidates on G_n
          (:func:`bmn_candidates`);
        - ``'scale_invariant'`` or an anchor-set config: every anchor of
          :meth:`inference_anchors`, scored by :meth:`score_segments`.

        Returns:
            tuple[Tensor]: ``segments`` B x K x 2, ``scores`` B x K and
            ``valid`` B x K.
        """
        cfg = self.test_cfg
        if self.anchor_set is None:
            if cfg['scoring'] == 'bmn':
                return super().window_candidates(inputs)
            confidence_map, _, _ = self._forward(inputs)
            return self.grid_candidates(confidence_map)
        anchors = self.inference_anchors(inputs.device)
        segments = anchors.expand(inputs.size(0), -1, -1)
        _, scores = self.score_segments(inputs, segments)
        valid = torch.ones_like(scores, dtype=torch.bool)
        return segments / self.temporal_dim, scores, valid

    def predict(self, inputs: Tensor,
                data_samples: List[ActionDataSample]) -> List[
                    ActionDataSample]:
        """Detections of every video in the batch, in seconds.

        :meth:`window_candidates` (see ``test_cfg`` there), then
        :func:`post_process_proposals` (mmaction2's Soft-NMS, top k); with
        ``anchors='grid'`` and ``scoring='bmn'`` this is
        :func:`bmn_post_process`, BMN's own inference on G_n. See
        :meth:`ProposalMapLocalizer.predict` for the output.
        """
        if self.is_windowed(data_samples):
            # Windows: candidates in video seconds, merged and suppressed
            # per video later (see ProposalMapLocalizer.predict).
            return self._predict_windows(inputs, data_samples)
        durations = self._video_durations(data_samples, inputs.device)
        segments, scores, valid = self.window_candidates(inputs)
        detections = post_process_proposals(segments, scores, valid,
                                            durations, **self._soft_nms_cfg())
        return self._pack_results(data_samples, detections)


def _interp(values: Tensor, positions: Tensor) -> Tensor:
    """Linear interpolation of B x T values at B x K real indices."""
    num_t = values.size(1)
    pos = positions.to(values.dtype).clamp(0, num_t - 1)
    lower = pos.floor().long().clamp(max=num_t - 1)
    upper = (lower + 1).clamp(max=num_t - 1)
    frac = pos - lower.to(pos.dtype)
    return (values.gather(1, lower) * (1 - frac) +
            values.gather(1, upper) * frac)
