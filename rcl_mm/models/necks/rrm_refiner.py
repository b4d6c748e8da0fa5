# Copyright (c) rcl_mm contributors. All rights reserved.
"""RCL's recurrent refinement module (RRM), the localizer's neck: a ConvGRU
on the D x T map."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from rcl_mm.models.losses import MapTargets, ProposalMapLoss
from rcl_mm.ops import average_pool_matrix, pointwise_conv, project_and_pool
from rcl_mm.registry import MODELS
from rcl_mm.utils.typing import OptConfigType


def bilinear_matrix(out_size: int, in_size: int,
                    device: torch.device = None) -> Tensor:
    """Bilinear resizing along one axis as an ``out_size x in_size`` matrix.

    PyTorch's rule for ``F.interpolate(mode='bilinear',
    align_corners=False)`` without ``scale_factor``: output ``i`` reads
    the input at ``max((i + 0.5) * in_size / out_size - 0.5, 0)``, linearly
    between its two neighbours (the last input alone at the far edge).
    Resizing a ``... x h x w`` tensor is then ``R_h @ x @ R_w.T``.

    Args:
        out_size (int): Output length.
        in_size (int): Input length.
        device (torch.device, optional): Device of the matrix.

    Returns:
        Tensor: float32 ``out_size x in_size``, rows summing to 1.
    """
    src = ((torch.arange(out_size, dtype=torch.float64, device=device) +
            0.5) * (in_size / out_size) - 0.5).clamp(min=0)
    lower = src.floor().long().clamp(max=in_size - 1)
    upper = (lower + 1).clamp(max=in_size - 1)
    frac = src - lower
    matrix = torch.zeros(out_size, in_size, dtype=torch.float64,
                         device=device)
    rows = torch.arange(out_size, device=device)
    matrix.index_put_((rows, lower), 1 - frac, accumulate=True)
    matrix.index_put_((rows, upper), frac, accumulate=True)
    return matrix.float()


class ConvGRU(nn.Module):
    """The gated update of the supplement's eq. (1), 3x3 convolutions.

    ``z = sigmoid(conv_z([h, x]))``, ``r = sigmoid(conv_r([h, x]))``,
    ``h~ = tanh(conv_h([r * h, x]))``, ``h' = (1 - z) * h + z * h~``.

    The RRM's input x ends with channels that stay fixed over the steps
    (F-derived features and context): :meth:`static_terms` convolves them
    once and :meth:`step` computes each step from them (see there). The
    module holds the three convolutions; it has no other forward pass.

    Args:
        hidden_dim (int): Channels of h.
        input_dim (int): Channels of x.
        kernel_size (int): Defaults to 3.
    """

    def __init__(self, hidden_dim: int, input_dim: int,
                 kernel_size: int = 3) -> None:
        super().__init__()
        self.padding = kernel_size // 2
        channels = hidden_dim + input_dim
        self.convz = nn.Conv2d(
            channels, hidden_dim, kernel_size, padding=self.padding)
        self.convr = nn.Conv2d(
            channels, hidden_dim, kernel_size, padding=self.padding)
        self.convh = nn.Conv2d(
            channels, hidden_dim, kernel_size, padding=self.padding)

    def static_terms(self, x_static: Tensor) -> Tensor:
        """The gates' response to the last input channels, with the biases.

        The three convolutions are linear in their input channels (zero
        padding included): ``conv([h, x_dyn, x_static]) =
        conv_dyn([h, x_dyn]) + conv_static(x_static)``. When the last
        ``S`` channels of x are the same at every step (the RRM's
        F-derived features and context), their part is computed once here
        and :meth:`step` adds it: a third of the GRU's multiply-adds per
        RRM iteration at the default sizes, and one backward pass for
        them instead of one per step.

        Args:
            x_static (Tensor): B x S x d x t, the last S channels of x.

        Returns:
            Tensor: B x 3H x d x t, the pre-activations' static parts
            (z, r, h~ in that order, biases included).
        """
        num_static = x_static.size(1)
        convs = (self.convz, self.convr, self.convh)
        weight = torch.cat([c.weight[:, -num_static:] for c in convs])
        bias = torch.cat([c.bias for c in convs])
        return F.conv2d(x_static, weight, bias, padding=self.padding)

    def step(self, h: Tensor, x_dynamic: Tensor, static: Tensor) -> Tensor:
        """One step of eq. (1) on ``x = cat(x_dynamic, x_static)`` given
        ``static = static_terms(x_static)``.

        Args:
            h (Tensor): B x H x d x t.
            x_dynamic (Tensor): B x (I - S) x d x t, the first channels of
                x.
            static (Tensor): B x 3H x d x t from :meth:`static_terms`.

        Returns:
            Tensor: B x H x d x t, the new h.
        """
        hidden = h.size(1)
        num_dynamic = hidden + x_dynamic.size(1)
        # z and r read the same input: one convolution for both.
        weight_zr = torch.cat((self.convz.weight[:, :num_dynamic],
                               self.convr.weight[:, :num_dynamic]))
        zr = F.conv2d(torch.cat((h, x_dynamic), dim=1), weight_zr,
                      padding=self.padding)
        z, r = torch.sigmoid(zr + static[:, :2 * hidden]).split(hidden, 1)
        h_new = torch.tanh(
            F.conv2d(torch.cat((r * h, x_dynamic), dim=1),
                     self.convh.weight[:, :num_dynamic],
                     padding=self.padding) + static[:, 2 * hidden:])
        return (1 - z) * h + z * h_new


class MapFeatureEncoder(nn.Module):
    """RAFT's small motion encoder, adapted to the confidence map.

    RAFT (Teed and Deng, ECCV 2020) encodes its current flow (a 7x7 and a
    3x3 conv) and the correlation features looked up at it (a 1x1 conv),
    and fuses both with a 3x3 conv; the output is the fused features
    followed by the flow itself. Here the map G_t (2 logit channels) takes
    the flow's place and the temporal features F (at the working
    resolution) the correlation's: the supplement's x_t starts with
    ``[G_t, temporal features]``. Output: ``out_channels + 2`` channels,
    ``cat(relu(conv(cat(feat branch, map branch))), G_t)``.

    F is the same at every RRM iteration (RAFT's correlation lookup is
    not), so :meth:`static_terms` computes its branch and its part of the
    fusing conv once and :meth:`step` adds them: the encoder without the
    per-iteration cost of the F branch (it has no other forward pass).

    Args:
        in_channels (int): Channels of F.
        feat_channels (int): F branch (RAFT's ``convc1``, 1x1). Defaults
            to 96, RAFT-small's.
        map_channels (tuple[int]): Map branch, a 7x7 then a 3x3 conv
            (RAFT's ``convf1``, ``convf2``). Defaults to (64, 32).
        out_channels (int): The fusing 3x3 conv. Defaults to 80.
    """

    def __init__(self,
                 in_channels: int,
                 feat_channels: int = 96,
                 map_channels: Tuple[int, int] = (64, 32),
                 out_channels: int = 80) -> None:
        super().__init__()
        self.convf = nn.Conv2d(in_channels, feat_channels, 1)
        self.convm1 = nn.Conv2d(2, map_channels[0], 7, padding=3)
        self.convm2 = nn.Conv2d(map_channels[0], map_channels[1], 3,
                                padding=1)
        self.conv = nn.Conv2d(feat_channels + map_channels[1], out_channels,
                              3, padding=1)

    @property
    def output_channels(self) -> int:
        """Channels of the output: ``out_channels`` + the map's two."""
        return self.conv.out_channels + 2

    def _encode_map(self, heatmap: Tensor) -> Tensor:
        return F.relu(self.convm2(F.relu(self.convm1(heatmap))))

    def static_terms(self, feat: Tensor) -> Tensor:
        """The fusing conv's response to the F branch, bias included
        (convolutions are linear in their input channels, zero padding
        included); B x C x d x t -> B x out_channels x d x t (the
        constructor's ``out_channels``)."""
        feat_branch = F.relu(self.convf(feat))
        num = feat_branch.size(1)
        return F.conv2d(feat_branch, self.conv.weight[:, :num],
                        self.conv.bias, padding=self.conv.padding)

    def step(self, heatmap: Tensor, static: Tensor) -> Tensor:
        """The encoding of ``heatmap`` (B x 2 x d x t) and F given
        ``static = static_terms(feat)``: B x output_channels x d x t."""
        map_branch = self._encode_map(heatmap)
        num = self.conv.in_channels - map_branch.size(1)
        fused = F.conv2d(map_branch, self.conv.weight[:, num:],
                         padding=self.conv.padding)
        return torch.cat((F.relu(fused + static), heatmap), dim=1)


class SmallUpdateBlock(nn.Module):
    """RAFT's SmallUpdateBlock on the confidence map (supplement Fig. 4).

    The map-feature encoder (:class:`MapFeatureEncoder`), the ConvGRU of
    eq. (1) with 3x3 convolutions on ``x_t = [encoded map and features,
    context]`` and a two-layer 3x3 head (RAFT's FlowHead) predicting
    ``delta_t`` (2 channels). RAFT puts the context first in x_t; the
    supplement lists it last, as here (the same function up to the order
    of the GRU's weight columns). The head's last layer starts at zero,
    so before training G_t = G_0 (a model initialised from BMN gives
    BMN's map). RAFT-small's block returns no upsampling mask (its
    predictions are upsampled bilinearly); neither does this one.

    Args:
        in_channels (int): Channels of F.
        hdim (int): Hidden channels h. Defaults to 64.
        cdim (int): Context channels. Defaults to 32.
        encoder_channels (tuple[int]): The encoder's F branch, map
            branch (two convs) and output channels. Defaults to
            (96, 64, 32, 80), RAFT-small's.
        head_channels (int): Hidden channels of the head. Defaults to 128.
    """

    def __init__(self,
                 in_channels: int,
                 hdim: int = 64,
                 cdim: int = 32,
                 encoder_channels: Sequence[int] = (96, 64, 32, 80),
                 head_channels: int = 128) -> None:
        super().__init__()
        feat_channels, map_1, map_2, out_channels = encoder_channels
        self.encoder = MapFeatureEncoder(in_channels, feat_channels,
                                         (map_1, map_2), out_channels)
        self.gru = ConvGRU(hdim, self.encoder.output_channels + cdim)
        self.delta_head = nn.Sequential(
            nn.Conv2d(hdim, head_channels, 3, padding=1),
            nn.ReLU(inplace=True), nn.Conv2d(head_channels, 2, 3, padding=1))
        nn.init.zeros_(self.delta_head[-1].weight)
        nn.init.zeros_(self.delta_head[-1].bias)

    def static_terms(self, feat: Tensor,
                     inp: Tensor) -> Tuple[Tensor, Tensor]:
        """What stays fixed over the iterations: the encoder's F part and
        the GRU's context part (see :meth:`ConvGRU.static_terms`)."""
        return self.encoder.static_terms(feat), self.gru.static_terms(inp)

    def step(self, net: Tensor, heatmap: Tensor,
             static: Tuple[Tensor, Tensor]) -> Tuple[Tensor, Tensor]:
        """One update of Fig. 4 given ``static = static_terms(feat, inp)``.

        Args:
            net (Tensor): B x hdim x d x t hidden state.
            heatmap (Tensor): B x 2 x d x t current map (logits).
            static (tuple[Tensor, Tensor]): From :meth:`static_terms`.

        Returns:
            tuple[Tensor, Tensor]: the new hidden state and ``delta_t``
            (B x 2 x d x t).
        """
        encoder_static, gru_static = static
        motion = self.encoder.step(heatmap, encoder_static)
        net = self.gru.step(net, motion, gru_static)
        return net, self.delta_head(net)


UPDATE_BLOCKS = ('light', 'raft_small')


@MODELS.register_module()
class RRMRefiner(BaseModule):
    """Recurrent refinement of the confidence map, G_t = G_{t-1} + delta_t.

    `RCL: Recurrent Continuous Localization for Temporal Action Detection
    <https://arxiv.org/abs/2203.07112>`_, supplement Fig. 4 and eq. (1).
    RCL's neck (``model.neck``): it refines the head's map G_0 with the
    head's features F, after the head. The map is refined in logit space. A context network (a 3x3 conv)
    over the proposal features F gives the initial hidden state (``hdim``
    channels, tanh) and a context input (``cdim``, ReLU). Each iteration
    detaches the map, encodes it, builds ``x_t = concat(encoded map,
    F-derived features, context)``, runs a 3x3 ConvGRU and predicts
    ``delta_t``. The recurrence runs on the map pooled by ``stride``
    (a ``ceil(D / stride) x ceil(T / stride)`` grid), as RAFT's update
    block runs at 1/8 of the image; two update blocks:

    - ``update_block='raft_small'``: the supplement's RRM, RAFT's
      SmallUpdateBlock on the pooled map (:class:`SmallUpdateBlock`): the
      map-feature encoder over ``[G_t, F]``, the GRU, a two-layer 3x3
      head with ``head_channels`` (128) hidden channels predicting
      ``delta_t`` on the pooled grid, upsampled bilinearly to D x T (as
      RAFT-small upsamples its flow). At ``stride=2`` on the ANet RCL-BMN
      model its cost reproduces the supplement's Table 1 (1.7% of the
      model per iteration, counted as the paper counts; docs/rcl.md).
    - ``update_block='light'`` (the default for now): a cheaper block,
      about 1/20 of that per iteration at ``stride=6``. Its map encoder
      is one 3x3 conv, its F-derived features a 1x1 conv, and its delta
      is predicted at full resolution by a small per-cell head (1x1
      convs) from the upsampled hidden state, the current map and
      F-derived fine features, so refinements stay cell-sharp.

    Both heads' last layers start at zero: before training, G_t = G_0.

    Args:
        in_channels (int): Channels of F. Defaults to 128.
        hdim (int): Hidden channels of the GRU. Defaults to 64.
        cdim (int): Context channels. Defaults to 32.
        update_block (str): ``'light'`` or ``'raft_small'``. Defaults to
            ``'light'``.
        map_channels (int): ``'light'``: encoded-map channels in x_t.
            Defaults to 16.
        feat_channels (int): ``'light'``: F-derived channels in x_t and in
            the delta head. Defaults to 16.
        head_channels (int, optional): Hidden channels of the delta head.
            Defaults to 16 for ``'light'``, 128 for ``'raft_small'``.
        encoder_channels (tuple[int]): ``'raft_small'``: the map-feature
            encoder's channels, see :class:`SmallUpdateBlock`. Defaults to
            RAFT-small's (96, 64, 32, 80).
        stride (int): Pooling of the grid for the recurrence. Defaults
            to 4.
        iters (int): Iterations. Defaults to 10; 0 returns G_0.
        gamma (float): Sequence-loss decay: iteration t of n weighs
            ``gamma ** (n - t)``. Defaults to 0.8.
        mixed_precision (bool): Run the context network and the update
            under autocast (float16 on CUDA, bfloat16 on the CPU); the map
            itself stays float32. Defaults to False.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int = 128,
                 hdim: int = 64,
                 cdim: int = 32,
                 update_block: str = 'light',
                 map_channels: int = 16,
                 feat_channels: int = 16,
                 head_channels: Optional[int] = None,
                 encoder_channels: Sequence[int] = (96, 64, 32, 80),
                 stride: int = 4,
                 iters: int = 10,
                 gamma: float = 0.8,
                 mixed_precision: bool = False,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if iters < 0 or stride < 1 or int(stride) != stride:
            raise ValueError(f'iters must be >= 0 and stride an integer '
                             f'>= 1, got {iters} and {stride}')
        if update_block not in UPDATE_BLOCKS:
            raise ValueError(f'update_block must be one of {UPDATE_BLOCKS},'
                             f' got {update_block!r}')
        if len(encoder_channels) != 4:
            raise ValueError('encoder_channels must be 4 channel counts '
                             '(F branch, map branch 7x7 and 3x3, output), '
                             f'got {encoder_channels!r}')
        self.in_channels = in_channels
        self.hdim = hdim
        self.cdim = cdim
        self.block_type = update_block
        self.stride = int(stride)
        self.iters = iters
        self.gamma = gamma
        self.mixed_precision = mixed_precision
        self.cnet = nn.Conv2d(in_channels, hdim + cdim, 3, padding=1)
        if update_block == 'raft_small':
            self.update_block = SmallUpdateBlock(
                in_channels, hdim, cdim, tuple(encoder_channels),
                128 if head_channels is None else head_channels)
            return
        head_channels = 16 if head_channels is None else head_channels
        self.feat_enc = nn.Sequential(
            nn.Conv2d(in_channels, feat_channels, 1), nn.ReLU(inplace=True))
        self.fine_feat = nn.Sequential(
            nn.Conv2d(in_channels, feat_channels, 1), nn.ReLU(inplace=True))
        self.map_enc = nn.Sequential(
            nn.Conv2d(2, map_channels, 3, padding=1), nn.ReLU(inplace=True))
        self.gru = ConvGRU(hdim, map_channels + feat_channels + cdim)
        self.delta_head = nn.Sequential(
            nn.Conv2d(hdim + 2 + feat_channels, head_channels, 1),
            nn.ReLU(inplace=True), nn.Conv2d(head_channels, 2, 1))
        nn.init.zeros_(self.delta_head[-1].weight)
        nn.init.zeros_(self.delta_head[-1].bias)

    def head_input_split(self) -> List[int]:
        """``'light'``: input channels of the delta head's first conv, by
        part: the hidden state, the map (2) and the fine features."""
        in_channels = self.delta_head[0].in_channels
        return [self.hdim, 2, in_channels - self.hdim - 2]

    def _pool(self, x: Tensor) -> Tensor:
        if self.stride == 1:
            return x
        return F.avg_pool2d(x, self.stride, ceil_mode=True)

    @property
    def pools(self) -> bool:
        """Whether the recurrence runs on a pooled grid (stride > 1)."""
        return self.stride > 1

    def fine_weights(self) -> Optional[Tuple[Tensor, Tensor]]:
        """The fine-feature layer's weight (``feat_channels x C``) and
        bias, for callers that read F with other layers in one product;
        None for ``'raft_small'``, which reads F only pooled."""
        if self.block_type != 'light':
            return None
        fine = self.fine_feat[0]
        return fine.weight.flatten(1), fine.bias

    def pool_matrices(self, size: Tuple[int, int],
                      device: torch.device = None) -> Tuple[Tensor, Tensor]:
        """The GRU's average pooling of a ``D x T`` map as two matrices:
        ``pool(x) = rows @ x @ cols.T`` (:func:`average_pool_matrix`)."""
        return tuple(
            average_pool_matrix(-(-length // self.stride), length,
                                self.stride, device) for length in size)

    def read_features(self,
                      feat: Tensor) -> Tuple[Optional[Tensor], Tensor]:
        """What the refiner reads from F: the fine-feature layer before
        its ReLU (B x feat_channels x D x T; None for ``'raft_small'``)
        and F pooled by ``stride`` (B x C x ceil(D / stride) x
        ceil(T / stride)).

        A caller may compute both itself, e.g. with
        :func:`rcl_mm.ops.project_and_pool` from :meth:`fine_weights` and
        :meth:`pool_matrices` together with its own layers on F, and pass
        them to :meth:`forward`.
        """
        weights = self.fine_weights()
        if weights is None:
            return None, self._pool(feat)
        fine = pointwise_conv(feat, *weights)
        # Pooled after the fine features, so that the backward pass meets
        # the pooling first: its gradient of F is a fresh dense tensor,
        # into which autograd adds the others in place (a first gradient
        # that is a view would cost a new B x C x D x T buffer).
        return fine, self._pool(feat)

    def read_shared(self,
                    feat: Tensor,
                    other_weights: Tuple[Tensor, Tensor],
                    iters: int = None
                    ) -> Optional[Tuple[Tensor, Tuple[Optional[Tensor],
                                                      Tensor]]]:
        """Another module's 1x1 layer on F and :meth:`read_features`, in one
        read of F.

        The other layer (e.g. :meth:`RCLHead.cell_weights`), the
        fine-feature layer (``'light'`` block; ``'raft_small'`` has none)
        and the pooling all read F: :func:`project_and_pool` applies them
        at once, with one gradient buffer of F instead of two or three.
        Where this module would read F differently (under autocast, which
        its float32 region opts out of; its own mixed precision; no
        pooling; no iterations) it declines, and each module reads F
        itself.

        Args:
            feat (Tensor): B x C x D x T, F.
            other_weights (tuple[Tensor, Tensor]): The other layer's weight
                (P x C) and bias (P).
            iters (int, optional): Iterations to come; ``self.iters`` if
                None.

        Returns:
            tuple | None: ``(projected, features)``: the other layer on F
            (B x P x D x T) and :meth:`read_features` of F, to pass to
            :meth:`forward`; None where the caller is to apply its layer
            itself and this module reads F in :meth:`forward`.
        """
        iters = self.iters if iters is None else iters
        if (iters == 0 or not self.pools or self.mixed_precision
                or torch.is_autocast_enabled(feat.device.type)):
            return None
        weight, bias = other_weights
        num_other = weight.size(0)
        fine_weights = self.fine_weights()
        if fine_weights is not None:
            weight = torch.cat((weight, fine_weights[0]))
            bias = torch.cat((bias, fine_weights[1]))
        projected, coarse = project_and_pool(
            feat, weight, bias,
            *self.pool_matrices(feat.shape[-2:], feat.device))
        if fine_weights is None:
            return projected, (None, coarse)
        other, fine = projected.split(
            [num_other, projected.size(1) - num_other], 1)
        return other, (fine, coarse)

    def _autocast(self, device: torch.device):
        dtype = torch.float16 if device.type == 'cuda' else torch.bfloat16
        return torch.autocast(
            device.type, dtype=dtype, enabled=self.mixed_precision)

    def forward(self,
                feat: Tensor,
                logits: Tensor,
                iters: int = None,
                features: Optional[Tuple[Optional[Tensor], Tensor]] = None
                ) -> List[Tensor]:
        """Refine the map.

        Args:
            feat (Tensor): B x C x D x T proposal features F.
            logits (Tensor): B x 2 x D x T G_0 in logit space.
            iters (int, optional): Overrides ``self.iters``.
            features (tuple, optional): :meth:`read_features` of
                ``feat``, if the caller computed them; float32 unless
                ``mixed_precision``.

        Returns:
            list[Tensor]: ``[G_1, ..., G_iters]``, each B x 2 x D x T
            float32 logits; empty for ``iters = 0``.
        """
        iters = self.iters if iters is None else iters
        if iters == 0:
            return []
        size = logits.shape[-2:]
        if not self.mixed_precision:
            # An outer autocast (e.g. bf16 training) may hand us half
            # features; this region runs in float32 by design.
            feat = feat.float()
        with self._autocast(feat.device):
            fine, coarse = (self.read_features(feat)
                            if features is None else features)
        if self.block_type == 'raft_small':
            return self._refine_small(coarse, logits, iters)
        with self._autocast(feat.device):
            feat_fine = torch.relu(fine)
            net, inp = torch.split(self.cnet(coarse), [self.hdim, self.cdim],
                                   dim=1)
            net, inp = torch.tanh(net), torch.relu(inp)
            feat_coarse = self.feat_enc(coarse)
            # The head's first layer is a 1x1 conv of cat(up(net), map,
            # fine features). A 1x1 conv commutes with bilinear upsampling
            # (both linear; the interpolation weights sum to 1, so the bias
            # passes through), so it is applied in three parts: to the
            # coarse hidden state before upsampling (hdim -> head channels
            # at 1 / stride^2 of the cells), to the map, and to the fixed
            # fine features once for all iterations. Same result, without
            # upsampling hdim channels or concatenating at full resolution.
            head_in = self.delta_head[0]
            w_net, w_map, w_feat = torch.split(
                head_in.weight.flatten(1), self.head_input_split(), dim=1)
            feat_term = pointwise_conv(feat_fine, w_feat,
                                       head_in.bias).flatten(2)
            # x_t = [map_enc(G), feat_enc(F), context]: its last two parts
            # are the same at every iteration, convolved once.
            static = self.gru.static_terms(torch.cat((feat_coarse, inp), 1))
        # Per iteration at full resolution, as batched matrix products: the
        # bilinear upsampling as its two separable interpolation matrices,
        # the 1x1 layers on few channels as matmuls. Same values as
        # F.interpolate and conv2d (tested), several times faster than
        # them on the CPU, with their backward passes.
        batch = feat.size(0)
        up_rows = bilinear_matrix(size[0], coarse.size(2), feat.device)
        up_cols = bilinear_matrix(size[1], coarse.size(3), feat.device).t()
        last = self.delta_head[2]
        w_last = last.weight.flatten(1).expand(batch, -1, -1)
        w_map = w_map.expand(batch, -1, -1)
        maps = []
        heatmap = logits.float()
        for _ in range(iters):
            # Each iteration learns a correction of a fixed input: no
            # gradient flows back through the earlier maps (RAFT).
            heatmap = heatmap.detach()
            with self._autocast(feat.device):
                net = self.gru.step(net, self.map_enc(self._pool(heatmap)),
                                    static)
                coarse_hidden = torch.matmul(w_net, net.flatten(2)).view(
                    batch, -1, *net.shape[2:])
                hidden = torch.baddbmm(feat_term, w_map,
                                       heatmap.flatten(2).to(w_map.dtype))
                # In place: no producer of ``hidden`` keeps it for its
                # backward pass, so each full-resolution pass here writes
                # into one buffer instead of a new one.
                hidden = hidden.add_(
                    torch.matmul(torch.matmul(up_rows, coarse_hidden),
                                 up_cols).flatten(2)).relu_()
                delta = torch.baddbmm(
                    last.bias.view(1, -1, 1).to(hidden.dtype), w_last,
                    hidden)
            heatmap = heatmap + delta.float().view_as(heatmap)
            maps.append(heatmap)
        return maps

    def _refine_small(self, coarse: Tensor, logits: Tensor,
                      iters: int) -> List[Tensor]:
        """The ``'raft_small'`` iterations.

        As RAFT keeps its flow at the update block's resolution, the
        recurrence keeps a pooled map ``c`` (``c_0`` = G_0 pooled, then
        ``c_t = c_{t-1} + delta_t``) and the full map takes each delta
        upsampled: ``G_t = G_{t-1} + up(delta_t)``, so G_t keeps G_0's
        detail at every cell. Both are detached at each iteration's start.

        Args:
            coarse (Tensor): B x C x d x t, F pooled.
            logits (Tensor): B x 2 x D x T, G_0.
            iters (int): Iterations, >= 1.

        Returns:
            list[Tensor]: ``[G_1, ..., G_iters]``, float32 logits.
        """
        block = self.update_block
        device = coarse.device
        with self._autocast(device):
            net, inp = torch.split(self.cnet(coarse), [self.hdim, self.cdim],
                                   dim=1)
            net, inp = torch.tanh(net), torch.relu(inp)
            static = block.static_terms(coarse, inp)
        heatmap = logits.float()
        coarse_map = self._pool(heatmap)
        upsample = coarse_map.shape[-2:] != heatmap.shape[-2:]
        if upsample:
            # Bilinear upsampling (F.interpolate's values, tested) as two
            # interpolation matrices: faster on the CPU, with its backward.
            up_rows = bilinear_matrix(heatmap.size(2), coarse_map.size(2),
                                      device)
            up_cols = bilinear_matrix(heatmap.size(3), coarse_map.size(3),
                                      device).t()
        maps = []
        for _ in range(iters):
            # Each iteration learns a correction of a fixed input (RAFT).
            heatmap, coarse_map = heatmap.detach(), coarse_map.detach()
            with self._autocast(device):
                net, delta = block.step(net, coarse_map.to(net.dtype), static)
            delta = delta.float()
            coarse_map = coarse_map + delta
            if upsample:
                delta = torch.matmul(torch.matmul(up_rows, delta), up_cols)
            heatmap = heatmap + delta
            maps.append(heatmap)
        return maps

    def stage_weights(self, num_stages: int) -> List[float]:
        """The sequence loss's weights: stage t of n (G_t, t = 1..n) weighs
        ``gamma ** (n - t)``, the last map 1.

        Args:
            num_stages (int): n, the refined maps.

        Returns:
            list[float]: n weights, for G_1 .. G_n.
        """
        return [self.gamma**(num_stages - t)
                for t in range(1, num_stages + 1)]

    def loss_by_feat(self, maps: List[Tensor], map_targets: MapTargets,
                     criterion: ProposalMapLoss) -> Dict[str, Tensor]:
        """The sequence loss: each refined map scored as BMN's map against
        the grid's targets, weighted by :meth:`stage_weights`.

        Args:
            maps (list[Tensor]): ``[G_1, ..., G_n]`` logits from
                :meth:`forward`.
            map_targets (MapTargets): The grid's targets
                (:meth:`ProposalMapLoss.map_targets`), shared with G_0.
            criterion (ProposalMapLoss): The localizer's loss, whose
                :meth:`~ProposalMapLoss.map_loss_parts` scores each map.

        Returns:
            dict[str, Tensor]: ``loss_rrm_it<t>_reg`` / ``_cls`` for
            t = 1..n, each map's parts times its stage weight.
        """
        losses = {}
        weights = self.stage_weights(len(maps))
        for t, (heatmap, weight) in enumerate(zip(maps, weights), start=1):
            parts = criterion.map_loss_parts(heatmap.sigmoid(), map_targets)
            for part, value in parts.items():
                losses[f'loss_rrm_it{t}_{part}'] = weight * value
        return losses
