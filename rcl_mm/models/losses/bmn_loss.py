# Copyright (c) rcl_mm contributors. All rights reserved.
"""BMN's losses: TEM boundary loss and the proposal map's reg + cls loss."""
from typing import Dict, NamedTuple, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from rcl_mm.registry import MODELS


def balanced_bce_loss(pred: Tensor,
                      label: Tensor,
                      threshold: float = 0.5,
                      ratio_range: Tuple[float, float] = (1.05, 21),
                      eps: float = 1e-5,
                      mask: Tensor = None) -> Tensor:
    """Binary cross-entropy with positives and negatives balanced.

    BMN's binary logistic regression loss: entries with ``label >
    threshold`` are positives; with r = entries / positives clamped to
    ``ratio_range``, positives weigh r / 2 and negatives r / (2 (r - 1)),
    so both halves count equally.

    Args:
        pred (Tensor): Probabilities, any shape.
        label (Tensor): Soft labels, the shape of ``pred``.
        threshold (float): Positive threshold. Defaults to 0.5.
        ratio_range (tuple[float]): Clamp of the ratio. Defaults to
            (1.05, 21).
        eps (float): Added inside the logs. Defaults to 1e-5.
        mask (Tensor, optional): 0/1 entries that count, the shape of
            ``pred``; positives are counted inside it too. Defaults to all.

    Returns:
        Tensor: The scalar loss, averaged over the entries that count.
    """
    positive = (label > threshold).to(pred.dtype)
    if mask is None:
        negative = 1.0 - positive
        # Filled on the device: a tensor made from a host number would be
        # a copy that stops the host until the GPU has caught up.
        num_entries = torch.full((), float(label.numel()),
                                 device=pred.device)
    else:
        positive = positive * mask
        negative = (1.0 - positive) * mask
        num_entries = mask.sum()
    num_positive = positive.sum().clamp(min=1)
    ratio = (num_entries / num_positive).clamp(*ratio_range)
    coef_negative = 0.5 * ratio / (ratio - 1)
    coef_positive = 0.5 * ratio
    loss = (coef_positive * positive * torch.log(pred + eps) +
            coef_negative * negative * torch.log(1.0 - pred + eps))
    return -loss.sum() / num_entries.clamp(min=1)


def reg_anchor_groups(gt_iou: Tensor,
                      mask: Tensor,
                      high_threshold: float = 0.7,
                      low_threshold: float = 0.3) -> Tuple[Tensor, ...]:
    """The targets' part of :func:`proposal_reg_loss`, for reuse.

    Args:
        gt_iou (Tensor): Target tIoU, zero outside ``mask``.
        mask (Tensor): Valid-anchor mask, broadcastable to ``gt_iou``.
        high_threshold (float): Defaults to 0.7.
        low_threshold (float): Defaults to 0.3.

    Returns:
        tuple[Tensor]: The high, mid and low groups as 0/1 masks of
        ``gt_iou``'s shape, then the draws above which a mid and a low
        anchor are kept (scalars, ``1 - high / mid`` and
        ``1 - high / low``).
    """
    high = (gt_iou > high_threshold).to(gt_iou.dtype)
    mid = ((gt_iou <= high_threshold) &
           (gt_iou > low_threshold)).to(gt_iou.dtype)
    low = ((gt_iou <= low_threshold) & (gt_iou > 0.)).to(
        gt_iou.dtype) * mask
    num_high, num_mid, num_low = high.sum(), mid.sum(), low.sum()
    return high, mid, low, 1. - num_high / num_mid, 1. - num_high / num_low


def sampled_reg_loss(pred: Tensor, gt_iou: Tensor,
                     groups: Tuple[Tensor, ...]) -> Tensor:
    """:func:`proposal_reg_loss` from :func:`reg_anchor_groups`: the
    random draws and the prediction's part."""
    high, mid, low, mid_above, low_above = groups
    keep_mid = (mid * torch.rand_like(gt_iou)) > mid_above
    keep_low = (low * torch.rand_like(gt_iou)) > low_above
    weights = high + keep_mid.to(pred.dtype) + keep_low.to(pred.dtype)

    # mmaction2 averages the squared error over all anchors, then rescales
    # the mean to a sum over the chosen ones: 0.5 * sum / chosen.
    mse = F.mse_loss(pred * weights, gt_iou * weights)
    # clamp: with no anchor chosen the error is 0, not 0 / 0.
    return 0.5 * mse * weights.numel() / weights.sum().clamp(min=1)


def proposal_reg_loss(pred: Tensor,
                      gt_iou: Tensor,
                      mask: Tensor,
                      high_threshold: float = 0.7,
                      low_threshold: float = 0.3) -> Tensor:
    """BMN's tIoU regression loss with sampled mid and low anchors.

    All anchors with tIoU > ``high_threshold`` count; anchors in
    (low, high] and in (0, low] are sampled at random so that each group
    has about as many as the high group. The random draws (two
    ``rand_like`` calls, mid group first) are made exactly as mmaction2's
    ``BMNLoss`` makes them, so both give the same loss under the same seed.

    Args:
        pred (Tensor): B x D x T predicted tIoU.
        gt_iou (Tensor): B x D x T target tIoU, zero outside ``mask``.
        mask (Tensor): D x T or B x D x T valid-anchor mask.
        high_threshold (float): Defaults to 0.7.
        low_threshold (float): Defaults to 0.3.

    Returns:
        Tensor: The scalar loss.
    """
    return sampled_reg_loss(
        pred, gt_iou,
        reg_anchor_groups(gt_iou.to(pred.dtype), mask, high_threshold,
                          low_threshold))


def cls_anchor_weights(gt_iou: Tensor,
                       mask: Tensor,
                       threshold: float = 0.9,
                       ratio_range: Tuple[float, float] = (1.05, 21),
                       count_offset: float = 0.
                       ) -> Tuple[Tensor, Tensor, Tensor]:
    """The targets' part of :func:`proposal_cls_loss`, for reuse.

    With ``count_offset = c > 0`` the counts are G-TAD's THUMOS14 ones
    (branch master, ``pem_cls_loss_func``): ``P' = c + P`` positives and
    ``c + P' + N`` entries (so ``2 c`` is added to the entries), with no
    other guard than ``ratio_range``.

    Returns:
        tuple[Tensor]: The positives' and the negatives' weights (the
        balancing coefficient on a 0/1 mask, ``gt_iou``'s shape) and the
        number of entries that count.
    """
    positive = (gt_iou > threshold).to(gt_iou.dtype)
    negative = (gt_iou <= threshold).to(gt_iou.dtype) * mask
    if count_offset:
        num_positive = count_offset + positive.sum()
        num_entries = count_offset + num_positive + negative.sum()
    else:
        num_positive = positive.sum().clamp(min=1)
        num_entries = num_positive + negative.sum()
    ratio = (num_entries / num_positive).clamp(*ratio_range)
    coef_negative = 0.5 * ratio / (ratio - 1)
    coef_positive = 0.5 * ratio
    # On 0/1 masks the products are exact: the coefficients applied here
    # give the loss bit for bit as applied term by term.
    return coef_positive * positive, coef_negative * negative, num_entries


def balanced_cls_loss(pred: Tensor,
                      weights: Tuple[Tensor, Tensor, Tensor],
                      eps: float = 1e-5) -> Tensor:
    """:func:`proposal_cls_loss` from :func:`cls_anchor_weights`."""
    positive, negative, num_entries = weights
    loss = (torch.log(pred + eps) * positive +
            torch.log(1.0 - pred + eps) * negative)
    return -loss.sum() / num_entries


def proposal_cls_loss(pred: Tensor,
                      gt_iou: Tensor,
                      mask: Tensor,
                      threshold: float = 0.9,
                      ratio_range: Tuple[float, float] = (1.05, 21),
                      eps: float = 1e-5) -> Tensor:
    """BMN's tIoU classification loss: balanced BCE of tIoU > threshold.

    Args:
        pred (Tensor): B x D x T predicted probability of tIoU > threshold.
        gt_iou (Tensor): B x D x T target tIoU, zero outside ``mask``.
        mask (Tensor): D x T or B x D x T valid-anchor mask.
        threshold (float): Defaults to 0.9.
        ratio_range (tuple[float]): Defaults to (1.05, 21).
        eps (float): Defaults to 1e-5.

    Returns:
        Tensor: The scalar loss.
    """
    return balanced_cls_loss(
        pred,
        cls_anchor_weights(gt_iou.to(pred.dtype), mask, threshold,
                           ratio_range), eps)


class MapTargets(NamedTuple):
    """The targets of a confidence map's loss, shared by several maps.

    Attributes:
        gt_iou_map (Tensor): B x D x T target tIoU, zero outside the mask.
        reg_groups (tuple[Tensor]): :func:`reg_anchor_groups` of it.
        cls_weights (Tensor): :func:`cls_anchor_weights` of it.
    """
    gt_iou_map: Tensor
    reg_groups: Tuple[Tensor, ...]
    cls_weights: Tensor


@MODELS.register_module()
class ProposalMapLoss(nn.Module):
    """BMN's loss, each part returned under its own name.

    Registered as ``ProposalMapLoss``, not ``BMNLoss``: mmaction2 registers
    its own ``BMNLoss`` (which returns a tuple), and a name of ours would
    shadow it for mmaction2's ``BMN`` built while ``rcl_mm`` is the default
    scope.

    ``loss_tem_start`` and ``loss_tem_end`` (balanced BCE of the boundary
    probabilities, times ``weight_tem``), ``loss_pem_reg`` (tIoU
    regression, times ``weight_pem_reg``) and ``loss_pem_cls`` (tIoU
    classification, times ``weight_pem_cls``). Their sum equals the total
    of ``mmaction.models.BMNLoss`` under the same seed.

    Args:
        weight_tem (float): Defaults to 1.0.
        weight_pem_reg (float): Defaults to 10.0.
        weight_pem_cls (float): Defaults to 1.0.
        tem_threshold (float): Positive boundary label. Defaults to 0.5.
        reg_high_threshold (float): Defaults to 0.7.
        reg_low_threshold (float): Defaults to 0.3.
        cls_threshold (float): Defaults to 0.9.
        ratio_range (tuple[float]): Clamp of the balancing ratio.
            Defaults to (1.05, 21).
        eps (float): Defaults to 1e-5.
        cls_count_offset (float): Added to the tIoU classification's
            positive count and again to its entries (G-TAD's THUMOS14
            loss adds 10, see :func:`cls_anchor_weights`). Defaults to 0.
    """

    def __init__(self,
                 weight_tem: float = 1.0,
                 weight_pem_reg: float = 10.0,
                 weight_pem_cls: float = 1.0,
                 tem_threshold: float = 0.5,
                 reg_high_threshold: float = 0.7,
                 reg_low_threshold: float = 0.3,
                 cls_threshold: float = 0.9,
                 ratio_range: Tuple[float, float] = (1.05, 21),
                 eps: float = 1e-5,
                 cls_count_offset: float = 0.) -> None:
        super().__init__()
        self.cls_count_offset = cls_count_offset
        self.weight_tem = weight_tem
        self.weight_pem_reg = weight_pem_reg
        self.weight_pem_cls = weight_pem_cls
        self.tem_threshold = tem_threshold
        self.reg_high_threshold = reg_high_threshold
        self.reg_low_threshold = reg_low_threshold
        self.cls_threshold = cls_threshold
        self.ratio_range = tuple(ratio_range)
        self.eps = eps

    def tem_loss(self, start: Tensor, end: Tensor, gt_start: Tensor,
                 gt_end: Tensor) -> Dict[str, Tensor]:
        """Boundary losses.

        Args:
            start (Tensor): B x T predicted start probabilities.
            end (Tensor): B x T predicted end probabilities.
            gt_start (Tensor): B x T start targets.
            gt_end (Tensor): B x T end targets.

        Returns:
            dict: ``loss_tem_start`` and ``loss_tem_end``, weighted.
        """
        kwargs = dict(threshold=self.tem_threshold,
                      ratio_range=self.ratio_range, eps=self.eps)
        return dict(
            loss_tem_start=self.weight_tem *
            balanced_bce_loss(start, gt_start, **kwargs),
            loss_tem_end=self.weight_tem *
            balanced_bce_loss(end, gt_end, **kwargs))

    def proposal_loss(self, confidence_map: Tensor, gt_iou_map: Tensor,
                      mask: Tensor) -> Dict[str, Tensor]:
        """Losses of one confidence map.

        Args:
            confidence_map (Tensor): B x 2 x D x T (reg, cls) in [0, 1].
            gt_iou_map (Tensor): B x D x T target tIoU.
            mask (Tensor): D x T valid-anchor mask.

        Returns:
            dict: ``loss_pem_reg`` and ``loss_pem_cls``, weighted.
        """
        parts = self.map_loss_parts(confidence_map,
                                    self.map_targets(gt_iou_map, mask))
        return {f'loss_pem_{part}': value for part, value in parts.items()}

    def map_targets(self, gt_iou_map: Tensor, mask: Tensor) -> MapTargets:
        """The targets' part of the map loss, computed once for several
        maps (RCL scores G_0 .. G_n against the same targets).

        Args:
            gt_iou_map (Tensor): B x D x T target tIoU.
            mask (Tensor): D x T valid-anchor mask.

        Returns:
            MapTargets: for :meth:`map_loss_parts`.
        """
        gt_iou_map = gt_iou_map * mask
        return MapTargets(
            gt_iou_map,
            reg_anchor_groups(gt_iou_map, mask, self.reg_high_threshold,
                              self.reg_low_threshold),
            cls_anchor_weights(gt_iou_map, mask, self.cls_threshold,
                               self.ratio_range, self.cls_count_offset))

    def map_loss_parts(self, confidence_map: Tensor,
                       targets: MapTargets) -> Dict[str, Tensor]:
        """The map loss of one confidence map by part, weighted; each call
        makes its own random draws (the regression's anchor sampling).

        Args:
            confidence_map (Tensor): B x 2 x D x T (reg, cls) in [0, 1].
            targets (MapTargets): From :meth:`map_targets`.

        Returns:
            dict: ``reg`` (times ``weight_pem_reg``) and ``cls`` (times
            ``weight_pem_cls``), in that order; the caller names them
            (``loss_pem_<part>``, ``loss_rrm_it<t>_<part>``).
        """
        reg = sampled_reg_loss(confidence_map[:, 0], targets.gt_iou_map,
                               targets.reg_groups)
        cls = balanced_cls_loss(confidence_map[:, 1], targets.cls_weights,
                                self.eps)
        return dict(reg=self.weight_pem_reg * reg,
                    cls=self.weight_pem_cls * cls)

    def forward(self, confidence_map: Tensor, start: Tensor, end: Tensor,
                gt_iou_map: Tensor, gt_start: Tensor, gt_end: Tensor,
                mask: Tensor) -> Dict[str, Tensor]:
        """All four parts; see :meth:`tem_loss` and :meth:`proposal_loss`.

        The proposal losses are computed first, so that their random draws
        come first, in mmaction2's order.
        """
        losses = self.proposal_loss(confidence_map, gt_iou_map, mask)
        losses.update(self.tem_loss(start, end, gt_start, gt_end))
        return losses



@MODELS.register_module()
class RCLLoss(ProposalMapLoss):
    """BMN's loss plus the loss of RCL's continuous segments.

    Everything of :class:`ProposalMapLoss` (the grid map G_0 is supervised
    as BMN's map, ``loss_pem_reg`` / ``loss_pem_cls``; the RRM's maps
    through :meth:`map_loss_parts` too), and :meth:`car_loss` for the sampled
    continuous segments against their exact max tIoU: ``loss_car_reg``
    (BMN's L2 with the high / mid / low balancing, over the K segments
    instead of the D x T cells) and ``loss_car_cls`` (balanced BCE of
    tIoU > ``cls_threshold``).

    Args:
        weight_car_reg (float): Defaults to 10.0, as the grid's.
        weight_car_cls (float): Defaults to 1.0.
        **kwargs: :class:`ProposalMapLoss`'s arguments.
    """

    def __init__(self,
                 weight_car_reg: float = 10.0,
                 weight_car_cls: float = 1.0,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.weight_car_reg = weight_car_reg
        self.weight_car_cls = weight_car_cls

    def car_loss(self, confidences: Tensor, gt_iou: Tensor,
                 valid: Tensor) -> Dict[str, Tensor]:
        """Losses of continuous segments.

        Args:
            confidences (Tensor): B x 2 x K (reg, cls) in [0, 1].
            gt_iou (Tensor): B x K exact max tIoU.
            valid (Tensor): B x K, 1 where the segment counts.

        Returns:
            dict: ``loss_car_reg`` and ``loss_car_cls``, weighted.
        """
        valid = valid.to(confidences.dtype)
        gt_iou = gt_iou.to(confidences.dtype) * valid
        reg = proposal_reg_loss(confidences[:, 0], gt_iou, valid,
                                self.reg_high_threshold,
                                self.reg_low_threshold)
        cls = proposal_cls_loss(confidences[:, 1], gt_iou, valid,
                                self.cls_threshold, self.ratio_range,
                                self.eps)
        return dict(
            loss_car_reg=self.weight_car_reg * reg,
            loss_car_cls=self.weight_car_cls * cls)
