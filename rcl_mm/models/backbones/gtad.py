# Copyright (c) rcl_mm contributors. All rights reserved.
"""G-TAD's backbone: GCNeXt blocks, TEM and the SGAlign proposal map."""
from typing import Dict, Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from rcl_mm.ops import (align1d_sampling, gather_neighbours, knn_context,
                        knn_graph, sg_align_regions, sg_align_sampling,
                        sg_align_with_sampling)
from rcl_mm.registry import MODELS
from rcl_mm.utils.typing import OptConfigType


def _pointwise(x: Tensor, conv: nn.Module) -> Tensor:
    """A 1x1 (grouped) convolution over dim 1 of ``x`` as one einsum.

    On the CPU, mkldnn's 1x1 convolutions at G-TAD's sizes were several
    times slower than the same products as einsums (forward + backward);
    the parameters stay in the conv modules.
    """
    groups = conv.groups
    batch, channels = x.shape[:2]
    rest = x.shape[2:]
    weight = conv.weight.reshape(groups, -1, channels // groups)
    out = torch.einsum('goc,bgc...->bgo...', weight,
                       x.reshape(batch, groups, channels // groups, *rest))
    out = out.reshape(batch, -1, *rest)
    return out + conv.bias.view(1, -1, *([1] * len(rest)))


class GCNeXt(BaseModule):
    """G-TAD's graph convolution block on a temporal and a semantic graph.

    `G-TAD: Sub-Graph Localization for Temporal Action Detection
    <https://arxiv.org/abs/1911.11462>`_. ``out = ReLU(x + temporal(x) +
    semantic(x))`` where

    * ``temporal``: 1x1 conv, ReLU, grouped 3-wide conv, ReLU, 1x1 conv
      (a ResNeXt bottleneck over time);
    * ``semantic``: an edge convolution over the ``k`` nearest neighbours
      in feature space (:func:`rcl_mm.ops.knn_graph`, self included,
      recomputed from this block's input): the edge feature
      ``[x_j, x_i]`` (2C: neighbour first, then the snippet itself, as
      G-TAD's ``get_graph_feature(..., style=1)``) goes through 1x1 conv,
      ReLU, grouped 1x1 conv, ReLU, 1x1 conv, then max over the ``k``
      neighbours.

    The first semantic conv is linear, so ``W [x_j, x_i] = W_j x_j +
    W_i x_i``: both terms are computed per snippet (B x width x T) and only
    the first is gathered, so the B x 2C x T x k edge tensor is never
    built. The weight is G-TAD's, column for column (``W_j`` = input
    channels ``0 .. C - 1``), so its checkpoints, initialisation and weight
    decay act on the same parameters.

    Args:
        in_channels (int): Input channels C.
        out_channels (int): Output channels; must equal ``in_channels``
            (the identity is added). Defaults to ``in_channels``.
        k (int): Neighbours of the semantic graph, self included.
            Defaults to 3.
        groups (int): Groups of the grouped convs. Defaults to 32.
        width_group (int): Channels per group; the bottleneck width is
            ``groups * width_group``. Defaults to 4.
        knn_chunk_size (int): Query rows per kNN distance block. Defaults
            to 256.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int = None,
                 k: int = 3,
                 groups: int = 32,
                 width_group: int = 4,
                 knn_chunk_size: int = 256,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        out_channels = out_channels or in_channels
        if out_channels != in_channels:
            raise ValueError('GCNeXt adds the identity, so out_channels '
                             f'({out_channels}) must equal in_channels '
                             f'({in_channels}).')
        self.in_channels = in_channels
        self.k = k
        self.knn_chunk_size = knn_chunk_size
        width = groups * width_group
        self.tconvs = nn.Sequential(
            nn.Conv1d(in_channels, width, kernel_size=1),
            nn.ReLU(inplace=True),
            nn.Conv1d(width, width, kernel_size=3, padding=1,
                      groups=groups), nn.ReLU(inplace=True),
            nn.Conv1d(width, out_channels, kernel_size=1))
        self.sconvs = nn.Sequential(
            nn.Conv2d(2 * in_channels, width, kernel_size=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, kernel_size=1, groups=groups),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, out_channels, kernel_size=1))

    def semantic(self, x: Tensor, index: Tensor) -> Tensor:
        """The edge convolution, max over neighbours.

        Args:
            x (Tensor): B x C x T features.
            index (Tensor): B x T x k neighbour indices.

        Returns:
            Tensor: B x C_out x T.
        """
        first, _, second, _, third = self.sconvs
        weight = first.weight.flatten(1)  # width x 2C
        other, own = weight.split(self.in_channels, dim=1)
        # [x_j, x_i] -> W_j x_j + W_i x_i + bias.
        centre = torch.einsum('oc,bct->bot', own, x)
        centre = centre + first.bias.view(1, -1, 1)
        neighbour = torch.einsum('oc,bct->bot', other, x)
        edge = centre.unsqueeze(-1) + gather_neighbours(neighbour, index)
        edge = _pointwise(edge.relu_(), second).relu_()
        return _pointwise(edge, third).amax(dim=-1)

    def temporal(self, x: Tensor) -> Tensor:
        """The temporal branch: 1x1, grouped 3-wide, 1x1 convs.

        Args:
            x (Tensor): B x C x T features.

        Returns:
            Tensor: B x C_out x T.
        """
        first, _, grouped, _, last = self.tconvs
        out = grouped(_pointwise(x, first).relu_()).relu_()
        return _pointwise(out, last)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block.

        Args:
            x (Tensor): B x C x T features.

        Returns:
            Tensor: B x C x T features.
        """
        index = knn_graph(x, self.k, self.knn_chunk_size)
        return (x + self.temporal(x) + self.semantic(x, index)).relu()


@MODELS.register_module()
class GTADBackbone(BaseModule):
    """G-TAD's GCNeXt backbone, TEM and SGAlign proposal map.

    `G-TAD: Sub-Graph Localization for Temporal Action Detection
    <https://arxiv.org/abs/1911.11462>`_. The layers of the authors'
    ``GTAD`` (``gtad_lib/models.py``) up to the first 1x1 conv of its
    localisation module, parameter for parameter (see
    ``tools/convert/gtad_official.py``):

    * ``base``: grouped 3-wide conv (4 groups), ReLU, GCNeXt
      (``backbone1``);
    * ``tem_start`` / ``tem_end``: GCNeXt, 1x1 conv, sigmoid, on the base
      features (``regu_s`` / ``regu_e``);
    * ``proposal_gcn``: GCNeXt on the base features (``backbone2``);
    * SGAlign (:mod:`rcl_mm.ops.sg_align`, G-TAD's ``GraphAlign`` with
      ``goi_style=1``): every D x T anchor, widened by
      ``boundary_ratio x`` its length on each side, is read by G-TAD's
      ``Align1D`` at ``num_samples`` bins from the GCNeXt features and
      ``num_context_samples`` bins from their kNN means, fused with the
      1x1 conv ``sg_conv`` (G-TAD's ``localization[0]``,
      ``C * (N_i + N_c) -> hidden_dim_3d``), then ReLU. Anchors past the
      window's end read the region ``[0, 0]`` as G-TAD passes them (so the
      2-D convolutions see the same values next to valid anchors). The
      ``B x C x (N_i + N_c) x D x T`` tensor never exists.

    With :class:`rcl_mm.models.PEMHead` as the head (1x1, two ``k x k``,
    1x1, sigmoid; ``kernel_size=1`` at ActivityNet, 3 at THUMOS14) the model
    is G-TAD. The output contract is :class:`BMNBackbone`'s. Grid sampling
    plans are non-persistent buffers.

    Args:
        feat_dim (int): Channels of the input snippet features, C_in.
            Defaults to 400.
        temporal_dim (int): Snippets per window, T. Defaults to 100.
        duration_dim (int, optional): Anchor durations, D. Defaults to T.
        hidden_dim_1d (int): Channels of the 1-D features. Defaults to 256.
        hidden_dim_3d (int): Channels of the proposal map. Defaults to 512.
        k (int): kNN neighbours, self included. Defaults to 3.
        groups (int): Groups of GCNeXt's grouped convs. Defaults to 32.
        width_group (int): Channels per group in GCNeXt. Defaults to 4.
        boundary_ratio (float): Widening of each anchor on each side, as a
            ratio of its length, for the inner points. Defaults to 0.5.
        context_ratio (float): The same for the context points. Defaults to
            0.5.
        num_samples (int): Inner bins, N_i. Defaults to 32 (16 in G-TAD's
            THUMOS14 setting).
        num_context_samples (int): Context bins, N_c. Defaults to 4 (16 at
            THUMOS14).
        num_samples_per_bin (int, optional): A fixed number of points per
            bin, S, for both plans; None (default) is G-TAD's adaptive
            ``ceil(max(region, 1) / N)``.
        knn_chunk_size (int): Query rows per kNN distance block. Defaults
            to 256.
        init_cfg (dict, optional): Initialisation config. Defaults to None
            (PyTorch's default initialisation, as G-TAD).
    """

    def __init__(self,
                 feat_dim: int = 400,
                 temporal_dim: int = 100,
                 duration_dim: int = None,
                 hidden_dim_1d: int = 256,
                 hidden_dim_3d: int = 512,
                 k: int = 3,
                 groups: int = 32,
                 width_group: int = 4,
                 boundary_ratio: float = 0.5,
                 context_ratio: float = 0.5,
                 num_samples: int = 32,
                 num_context_samples: int = 4,
                 num_samples_per_bin: Optional[int] = None,
                 knn_chunk_size: int = 256,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.feat_dim = feat_dim
        self.temporal_dim = temporal_dim
        self.duration_dim = duration_dim or temporal_dim
        self.hidden_dim_1d = hidden_dim_1d
        self.hidden_dim_3d = hidden_dim_3d
        self.k = k
        self.boundary_ratio = boundary_ratio
        self.context_ratio = context_ratio
        self.num_samples = num_samples
        self.num_context_samples = num_context_samples
        self.num_samples_per_bin = num_samples_per_bin
        self.knn_chunk_size = knn_chunk_size

        def gcnext():
            return GCNeXt(hidden_dim_1d, hidden_dim_1d, k=k, groups=groups,
                          width_group=width_group,
                          knn_chunk_size=knn_chunk_size)

        def boundary_branch():
            return nn.Sequential(
                gcnext(), nn.Conv1d(hidden_dim_1d, 1, kernel_size=1),
                nn.Sigmoid())

        self.base = nn.Sequential(
            nn.Conv1d(feat_dim, hidden_dim_1d, kernel_size=3, padding=1,
                      groups=4), nn.ReLU(inplace=True), gcnext())
        self.tem_start = boundary_branch()
        self.tem_end = boundary_branch()
        self.proposal_gcn = gcnext()
        # G-TAD's first localisation conv, kept in its shape (channel
        # c * (N_i + N_c) + n); used only through the fused sampling.
        self.sg_conv = nn.Conv2d(
            hidden_dim_1d * (num_samples + num_context_samples),
            hidden_dim_3d, kernel_size=1)

        # All D x T anchors in row-major (d, t) order, so the op writes the
        # map directly (G-TAD's GraphAlign enumerates (t, d) and transposes
        # the map; the same cells). Anchors past the window's end: G-TAD's
        # _get_anchors passes them as the region [0, 0].
        d = torch.arange(self.duration_dim, dtype=torch.float64)
        t = torch.arange(self.temporal_dim, dtype=torch.float64)
        starts = t.view(1, -1).expand(self.duration_dim, -1)
        ends = starts + d.view(-1, 1)
        valid = ends <= self.temporal_dim - 1
        grid = torch.stack([starts, ends], dim=-1).view(-1, 2)
        for name, bins, ratio in (('inner', num_samples, boundary_ratio),
                                  ('context', num_context_samples,
                                   context_ratio)):
            regions = sg_align_regions(grid, ratio)
            regions = regions * valid.view(-1, 1)
            index, weight = align1d_sampling(regions, self.temporal_dim,
                                             bins, num_samples_per_bin,
                                             torch.float32)
            self.register_buffer(f'{name}_sample_index', index,
                                 persistent=False)
            self.register_buffer(f'{name}_sample_weight', weight,
                                 persistent=False)
        self.register_buffer('valid_mask', valid.float(), persistent=False)

    def context_features(self, proposal_feat: Tensor) -> Tensor:
        """G-TAD's semantic context: the kNN mean of the GCNeXt features.

        Args:
            proposal_feat (Tensor): B x C x T GCNeXt features.

        Returns:
            Tensor: B x C x T.
        """
        return knn_context(proposal_feat, self.k, self.knn_chunk_size)

    def sg_align(self, proposal_feat: Tensor, context_feat: Tensor) -> Tensor:
        """SGAlign over the grid and the projection, fused, with ReLU.

        Args:
            proposal_feat (Tensor): B x C x T GCNeXt features.
            context_feat (Tensor): B x C x T kNN-mean features.

        Returns:
            Tensor: B x O x D x T proposal map (a channels-last view).
            Anchors past the window's end hold the features of the region
            [0, 0], as in G-TAD.
        """
        batch = proposal_feat.size(0)
        dtype = proposal_feat.dtype
        sampled = sg_align_with_sampling(
            proposal_feat, context_feat,
            (self.inner_sample_index, self.inner_sample_weight.to(dtype)),
            (self.context_sample_index,
             self.context_sample_weight.to(dtype)),
            self.sg_conv.weight, channels_last=True)
        out = sampled.add_(self.sg_conv.bias.to(sampled.dtype)).relu_()
        return out.view(batch, self.duration_dim, self.temporal_dim,
                        self.hidden_dim_3d).permute(0, 3, 1, 2)

    def segment_features(self, proposal_feat: Tensor,
                         segments: Tensor) -> Tensor:
        """Proposal features of any continuous segments (SGAlign).

        The same sampling, projection, bias and ReLU as the grid map, so a
        valid grid cell ``(d, t)`` given as ``[t, t + d + 1]`` gets exactly
        ``proposal_map[:, :, d, t]``. (Continuous segments are RCL's, not
        G-TAD's: one ending past the window reads nothing here, where the
        grid's past-end cells read G-TAD's region ``[0, 0]``.)

        Args:
            proposal_feat (Tensor): B x C x T GCNeXt features
                (``proposal_feat`` of :meth:`forward`).
            segments (Tensor): B x K x 2 (start, end) in snippet-boundary
                units, [0, T], read as the snippet-index segment
                ``(s, e - 1)`` as :meth:`BMNBackbone.segment_features`.

        Returns:
            Tensor: B x O x K. Segments ending past the window read
            nothing.
        """
        index_segments = torch.stack(
            (segments[..., 0], segments[..., 1] - 1), dim=-1)
        context_feat = self.context_features(proposal_feat)
        plans = []
        for bins, ratio in ((self.num_samples, self.boundary_ratio),
                            (self.num_context_samples, self.context_ratio)):
            index, weight = sg_align_sampling(
                index_segments, self.temporal_dim, bins,
                self.num_samples_per_bin, ratio)
            plans.append((index, weight.to(proposal_feat.dtype)))
        sampled = sg_align_with_sampling(proposal_feat, context_feat,
                                         *plans, self.sg_conv.weight)
        inside = segments[..., 1] <= self.temporal_dim + 1e-6
        sampled = sampled * inside[:, None, :].to(sampled.dtype)
        return (sampled + self.sg_conv.bias.view(1, -1, 1)).relu()

    def forward(self, x: Tensor) -> Dict[str, Tensor]:
        """Compute the boundary probabilities and the proposal map.

        Args:
            x (Tensor): B x C_in x T snippet features.

        Returns:
            dict: ``base_feat`` (B x hidden_dim_1d x T), ``proposal_feat``
            (B x hidden_dim_1d x T, GCNeXt features), ``context_feat``
            (B x hidden_dim_1d x T, their kNN means), ``start`` and ``end``
            (B x T, probabilities) and ``proposal_map``
            (B x hidden_dim_3d x D x T).
        """
        base_feat = self.base(x)
        start = self.tem_start(base_feat).squeeze(1)
        end = self.tem_end(base_feat).squeeze(1)
        proposal_feat = self.proposal_gcn(base_feat)
        context_feat = self.context_features(proposal_feat)
        proposal_map = self.sg_align(proposal_feat, context_feat)
        return dict(
            base_feat=base_feat,
            proposal_feat=proposal_feat,
            context_feat=context_feat,
            start=start,
            end=end,
            proposal_map=proposal_map)
