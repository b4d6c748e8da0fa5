# Copyright (c) rcl_mm contributors. All rights reserved.
"""RCL's continuous anchoring representation (CAR) head."""
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from rcl_mm.models.losses import MapTargets, RCLLoss
from rcl_mm.models.task_modules.rcl_sampling import nearest_anchor
from rcl_mm.ops import pointwise_conv
from rcl_mm.registry import MODELS
from rcl_mm.utils.typing import OptConfigType

from .pem_head import pem_layers

CAR_MODES = ('nearest', 'bilinear', 'exact')


@MODELS.register_module()
class RCLHead(BaseModule):
    """CAR: confidences of any real-valued segments from the proposal map.

    `RCL: Recurrent Continuous Localization for Temporal Action Detection
    <https://arxiv.org/abs/2203.07112>`_. BMN's 2-D convolutions
    (``convs``, :func:`pem_layers` as :class:`PEMHead`'s, so mmaction2 BMN
    weights load into them) turn the proposal map into features
    F (C x D x T). A segment ``(s, e)`` (snippet-boundary units, see
    :mod:`rcl_mm.models.task_modules.rcl_sampling`) is represented by
    ``concat(F[:, d*, t*], coords)``: the feature of its nearest grid cell
    plus its two coordinate offsets in [-1, 1] (``mode='nearest'``, the
    paper's default). ``'bilinear'`` interpolates F at the segment's real
    (length - 1, start) instead; ``'exact'`` adds the segment's own
    CARAlign feature (the BM layer at its real coordinates, reduced by a
    1x1 layer) to the representation.

    The representation is mapped to two logits (tIoU regression, tIoU > 0.9
    classification) by ``out(F) + car(representation)``: ``out`` is
    PEMHead's 1x1 output layer (it loads from a BMN checkpoint) and ``car``
    a two-layer MLP (1x1 convs) over the whole representation whose last
    layer starts at zero, so a head initialised from BMN starts as BMN's
    PEM. On the grid the offsets are 0 and the logits form the dense map
    G_0 (2 x D x T); scoring the grid cells as segments gives G_0 exactly.

    Args:
        in_channels (int): Channels of the proposal map. Defaults to 512.
        hidden_channels (int): Channels of F. Defaults to 128.
        mlp_channels (int): Hidden channels of the CAR MLP. Defaults to 64.
        mode (str): ``'nearest'``, ``'bilinear'`` or ``'exact'``.
            Defaults to ``'nearest'``.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int = 512,
                 hidden_channels: int = 128,
                 mlp_channels: int = 64,
                 mode: str = 'nearest',
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if mode not in CAR_MODES:
            raise ValueError(f'mode must be one of {CAR_MODES}, got {mode!r}')
        self.mode = mode
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.convs, self.out = pem_layers(in_channels, hidden_channels)
        rep_channels = hidden_channels + 2
        if mode == 'exact':
            self.exact_proj = nn.Sequential(
                nn.Conv1d(in_channels, hidden_channels, kernel_size=1),
                nn.ReLU(inplace=True))
            rep_channels += hidden_channels
        self.car = nn.Sequential(
            nn.Conv1d(rep_channels, mlp_channels, kernel_size=1),
            nn.ReLU(inplace=True),
            nn.Conv1d(mlp_channels, 2, kernel_size=1))
        # Zero start: the coordinate path adds nothing until it is trained,
        # so BMN weights give BMN's map.
        nn.init.zeros_(self.car[-1].weight)
        nn.init.zeros_(self.car[-1].bias)

    @property
    def needs_segment_features(self) -> bool:
        """Whether :meth:`segment_logits` needs CARAlign features."""
        return self.mode == 'exact'

    def features(self, proposal_map: Tensor) -> Tensor:
        """F, the 2-D conv features of the proposal map.

        Args:
            proposal_map (Tensor): B x C_in x D x T.

        Returns:
            Tensor: B x C x D x T.
        """
        return self.convs(proposal_map)

    def cell_terms(self, feat: Tensor) -> Tensor:
        """The head's first linear layers on every cell of F, in one product.

        ``out`` and the F-part of the CAR MLP's first layer are linear in
        F, and so is reading a segment's feature (a cell, or a bilinear
        mix of cells whose weights sum to 1, so biases pass through). They
        are therefore applied to F once, per cell, and segments read these
        terms instead of F: F then has one consumer in the head instead of
        two (one ``B x C x D x T`` gradient fewer to sum) and the grid
        needs no ``C + 2`` channel concatenation.

        Args:
            feat (Tensor): B x C x D x T, from :meth:`features`.

        Returns:
            Tensor: B x (2 + M) x D x T: ``out(F)`` (2 channels), then the
            CAR MLP's first layer on F with its bias (``M`` =
            ``mlp_channels``, before the ReLU).
        """
        return pointwise_conv(feat, *self.cell_weights())

    def cell_weights(self) -> Tuple[Tensor, Tensor]:
        """The 1x1 layer that :meth:`cell_terms` applies to F, for callers
        that read F with other layers in the same product.

        Returns:
            tuple[Tensor, Tensor]: weight ``(2 + M) x C`` and bias
            ``2 + M``.
        """
        weight = torch.cat((self.out.weight.flatten(1),
                            self.car[0].weight[:, :self.hidden_channels, 0]))
        bias = torch.cat((self.out.bias, self.car[0].bias))
        return weight, bias

    def _rep_weights(self) -> Tuple[Tensor, Tensor]:
        """The CAR MLP's first-layer columns of the offsets (M x 2) and of
        the exact features (M x C, empty unless ``mode='exact'``)."""
        weight = self.car[0].weight[..., 0]
        return torch.split(weight[:, self.hidden_channels:],
                           [2, weight.size(1) - self.hidden_channels - 2], 1)

    def _logits(self, terms: Tensor, extra: Optional[Tensor]) -> Tensor:
        """Logits from cell terms (B x (2 + M) x K) and the rest of the CAR
        MLP's first layer (B x M x K, or None): B x 2 x K."""
        out_term, hidden = terms.split([2, terms.size(1) - 2], 1)
        if extra is not None:
            hidden = hidden + extra
        # Not car[1] (an in-place ReLU): ``hidden`` may be a view of the
        # terms, which segments read again. The last layer as a batched
        # product: it reads the strided view without the copy a conv
        # makes.
        last = self.car[2]
        return torch.baddbmm(
            out_term + last.bias[:, None],
            last.weight[..., 0].expand(terms.size(0), -1, -1),
            torch.relu(hidden))

    def grid_logits(self,
                    terms: Tensor,
                    proposal_map: Optional[Tensor] = None) -> Tensor:
        """G_0 in logit space: every grid cell, offsets 0.

        Args:
            terms (Tensor): B x (2 + M) x D x T, from :meth:`cell_terms`.
            proposal_map (Tensor, optional): B x C_in x D x T, needed in
                ``'exact'`` mode (the grid's own CARAlign features).

        Returns:
            Tensor: B x 2 x D x T logits.
        """
        batch, _, num_d, num_t = terms.shape
        extra = None
        if self.mode == 'exact':
            _, w_exact = self._rep_weights()
            extra = torch.einsum('mc,bck->bmk', w_exact,
                                 self.exact_proj(proposal_map.flatten(2)))
        logits = self._logits(terms.flatten(2), extra)
        return logits.view(batch, 2, num_d, num_t)

    def segment_logits(self,
                       terms: Tensor,
                       segments: Tensor,
                       segment_feat: Optional[Tensor] = None) -> Tensor:
        """Logits of any continuous segments.

        Args:
            terms (Tensor): B x (2 + M) x D x T, from :meth:`cell_terms`.
            segments (Tensor): B x K x 2 in snippet-boundary units.
            segment_feat (Tensor, optional): B x C_in x K CARAlign features
                of the segments (``BMNBackbone.segment_features``); needed
                in ``'exact'`` mode.

        Returns:
            Tensor: B x 2 x K logits (reg, cls).
        """
        batch, channels, num_d, num_t = terms.shape
        segments = segments.to(terms.dtype)
        d_idx, t_idx, coords = nearest_anchor(segments, num_t, num_d)
        if self.mode == 'bilinear':
            start = segments[..., 0].clamp(0, num_t - 1)
            length = (segments[..., 1] - segments[..., 0] - 1).clamp(
                0, num_d - 1)
            # align_corners=True: -1 and 1 are the centres of the first
            # and last cells, so integer (d, t) read the cell exactly.
            grid = torch.stack((2 * start / max(num_t - 1, 1) - 1,
                                2 * length / max(num_d - 1, 1) - 1), -1)
            seg_terms = F.grid_sample(
                terms, grid[:, :, None, :], mode='bilinear',
                padding_mode='border', align_corners=True).squeeze(-1)
        else:
            flat_idx = (d_idx * num_t + t_idx)[:, None, :]
            seg_terms = terms.flatten(2).gather(
                2, flat_idx.expand(-1, channels, -1))
        w_coords, w_exact = self._rep_weights()
        extra = torch.einsum('mc,bkc->bmk', w_coords, coords)
        if self.mode == 'exact':
            if segment_feat is None:
                raise ValueError("mode='exact' needs segment_feat, the "
                                 'CARAlign features of the segments.')
            extra = extra + torch.einsum('mc,bck->bmk', w_exact,
                                         self.exact_proj(segment_feat))
        return self._logits(seg_terms, extra)

    def loss_by_feat(self, grid_logits: Tensor, map_targets: MapTargets,
                     criterion: RCLLoss) -> Dict[str, Tensor]:
        """The loss of G_0 on the grid, as BMN's map.

        Args:
            grid_logits (Tensor): B x 2 x D x T, G_0 from
                :meth:`grid_logits`.
            map_targets (MapTargets): The grid's targets
                (:meth:`ProposalMapLoss.map_targets`), shared with the
                neck's refined maps.
            criterion (RCLLoss): The localizer's loss (its weights and
                thresholds, one config for every part).

        Returns:
            dict[str, Tensor]: ``loss_pem_reg`` and ``loss_pem_cls``,
            weighted.
        """
        parts = criterion.map_loss_parts(grid_logits.sigmoid(), map_targets)
        return {f'loss_pem_{part}': value for part, value in parts.items()}

    def segment_loss_by_feat(self, segment_logits: Tensor, gt_iou: Tensor,
                             valid: Tensor,
                             criterion: RCLLoss) -> Dict[str, Tensor]:
        """The loss of continuous segments against their exact tIoU.

        Args:
            segment_logits (Tensor): B x 2 x K, from :meth:`segment_logits`.
            gt_iou (Tensor): B x K exact max tIoU of each segment.
            valid (Tensor): B x K, 1 where the segment counts.
            criterion (RCLLoss): The localizer's loss.

        Returns:
            dict[str, Tensor]: ``loss_car_reg`` and ``loss_car_cls``,
            weighted (:meth:`RCLLoss.car_loss`).
        """
        return criterion.car_loss(segment_logits.sigmoid(), gt_iou, valid)
