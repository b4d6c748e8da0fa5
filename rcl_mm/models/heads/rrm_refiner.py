# Copyright (c) rcl_mm contributors. All rights reserved.
"""RCL's recurrent refinement module (RRM): a ConvGRU on the D x T map."""
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from rcl_mm.ops import average_pool_matrix, pointwise_conv
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

    :meth:`forward` is one step as written. A recurrent caller whose input
    ends with channels that stay fixed over the steps uses
    :meth:`static_terms` once and :meth:`step` per step instead: the same
    function with the fixed channels convolved once (see there).

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

    def forward(self, h: Tensor, x: Tensor) -> Tensor:
        """One step; h B x H x d x t, x B x I x d x t -> B x H x d x t."""
        hx = torch.cat((h, x), dim=1)
        z = torch.sigmoid(self.convz(hx))
        r = torch.sigmoid(self.convr(hx))
        h_new = torch.tanh(self.convh(torch.cat((r * h, x), dim=1)))
        return (1 - z) * h + z * h_new

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
        """``forward(h, cat(x_dynamic, x_static))`` given
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


@MODELS.register_module()
class RRMRefiner(BaseModule):
    """Recurrent refinement of the confidence map, G_t = G_{t-1} + delta_t.

    `RCL: Recurrent Continuous Localization for Temporal Action Detection
    <https://arxiv.org/abs/2203.07112>`_, supplement Fig. 4 and eq. (1).
    The map is refined in logit space. A context network over the proposal
    features F gives the initial hidden state (``hdim`` channels, tanh) and
    a context input (``cdim``, ReLU). Each iteration detaches the map,
    encodes it, builds ``x_t = concat(encoded map, F-derived features,
    context)``, runs the ConvGRU and predicts ``delta_t``.

    Cost. At the ANet setting (D = T = 100) a 3x3 ConvGRU with 64 hidden
    channels on all 10^4 cells would cost more per iteration than the
    whole BMN, far from the paper's +17% FLOPs for 10 iterations. As in
    RAFT, whose update block runs at reduced resolution and is upsampled
    afterwards, the GRU runs on the map average-pooled by ``stride``; the
    delta is predicted at full resolution by a small per-cell head
    (1x1 convs) from the upsampled hidden state, the current map and
    F-derived features, so refinements stay cell-sharp. The head's last
    layer starts at zero: before training, G_t = G_0.

    Args:
        in_channels (int): Channels of F. Defaults to 128.
        hdim (int): Hidden channels of the GRU. Defaults to 64.
        cdim (int): Context channels. Defaults to 32.
        map_channels (int): Encoded-map channels in x_t. Defaults to 16.
        feat_channels (int): F-derived channels in x_t and in the delta
            head. Defaults to 16.
        head_channels (int): Hidden channels of the delta head. Defaults
            to 16.
        stride (int): Pooling of the grid for the GRU. Defaults to 4.
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
                 map_channels: int = 16,
                 feat_channels: int = 16,
                 head_channels: int = 16,
                 stride: int = 4,
                 iters: int = 10,
                 gamma: float = 0.8,
                 mixed_precision: bool = False,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if iters < 0 or stride < 1:
            raise ValueError(f'iters must be >= 0 and stride >= 1, got '
                             f'{iters} and {stride}')
        self.in_channels = in_channels
        self.hdim = hdim
        self.cdim = cdim
        self.stride = stride
        self.iters = iters
        self.gamma = gamma
        self.mixed_precision = mixed_precision
        self.cnet = nn.Conv2d(in_channels, hdim + cdim, 3, padding=1)
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
        """Input channels of the delta head's first conv, by part: the
        hidden state, the map (2) and the fine features."""
        in_channels = self.delta_head[0].in_channels
        return [self.hdim, 2, in_channels - self.hdim - 2]

    def _pool(self, x: Tensor) -> Tensor:
        if self.stride == 1:
            return x
        return F.avg_pool2d(x, self.stride, ceil_mode=True)

    def fine_weights(self) -> Tuple[Tensor, Tensor]:
        """The fine-feature layer's weight (``feat_channels x C``) and
        bias, for callers that read F with other layers in one product."""
        fine = self.fine_feat[0]
        return fine.weight.flatten(1), fine.bias

    def pool_matrices(self, size: Tuple[int, int],
                      device: torch.device = None) -> Tuple[Tensor, Tensor]:
        """The GRU's average pooling of a ``D x T`` map as two matrices:
        ``pool(x) = rows @ x @ cols.T`` (:func:`average_pool_matrix`)."""
        return tuple(
            average_pool_matrix(-(-length // self.stride), length,
                                self.stride, device) for length in size)

    def read_features(self, feat: Tensor) -> Tuple[Tensor, Tensor]:
        """What the refiner reads from F: the fine-feature layer before
        its ReLU (B x feat_channels x D x T) and F pooled by ``stride``
        (B x C x ceil(D / stride) x ceil(T / stride)).

        A caller may compute both itself, e.g. with
        :func:`rcl_mm.ops.project_and_pool` from :meth:`fine_weights` and
        :meth:`pool_matrices` together with its own layers on F, and pass
        them to :meth:`forward`.
        """
        fine = pointwise_conv(feat, *self.fine_weights())
        # Pooled after the fine features, so that the backward pass meets
        # the pooling first: its gradient of F is a fresh dense tensor,
        # into which autograd adds the others in place (a first gradient
        # that is a view would cost a new B x C x D x T buffer).
        return fine, self._pool(feat)

    def _autocast(self, device: torch.device):
        dtype = torch.float16 if device.type == 'cuda' else torch.bfloat16
        return torch.autocast(
            device.type, dtype=dtype, enabled=self.mixed_precision)

    def forward(self,
                feat: Tensor,
                logits: Tensor,
                iters: int = None,
                features: Optional[Tuple[Tensor, Tensor]] = None
                ) -> List[Tensor]:
        """Refine the map.

        Args:
            feat (Tensor): B x C x D x T proposal features F.
            logits (Tensor): B x 2 x D x T G_0 in logit space.
            iters (int, optional): Overrides ``self.iters``.
            features (tuple[Tensor], optional): :meth:`read_features` of
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

    def loss(self, maps: List[Tensor],
             map_loss: Callable[[Tensor], Dict[str, Tensor]]
             ) -> Dict[str, Tensor]:
        """The sequence loss, each iteration's parts under their own names.

        Args:
            maps (list[Tensor]): ``[G_1, ..., G_n]`` logits from
                :meth:`forward`.
            map_loss (callable): B x 2 x D x T confidences -> dict of
                weighted losses named ``loss_pem_<part>``
                (``ProposalMapLoss.map_loss``: the targets bound).

        Returns:
            dict[str, Tensor]: ``loss_rrm_it<t>_<part>``, already weighted
            by ``gamma ** (n - t)``; iterations count from 1.
        """
        losses = {}
        num = len(maps)
        for i, heatmap in enumerate(maps, start=1):
            weight = self.gamma**(num - i)
            for name, value in map_loss(heatmap.sigmoid()).items():
                part = name.split('_')[-1]
                losses[f'loss_rrm_it{i}_{part}'] = weight * value
        return losses
