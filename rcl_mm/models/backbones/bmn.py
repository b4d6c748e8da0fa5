# Copyright (c) rcl_mm contributors. All rights reserved.
"""BMN's backbone: base module, TEM and the Boundary-Matching proposal map."""
from typing import Dict

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from rcl_mm.ops import (CAR_ALIGN_IMPLS, car_align, car_align_sampling,
                        car_align_with_sampling, dense_sampling_matrix,
                        resolve_car_align_impl)
from rcl_mm.registry import MODELS
from rcl_mm.utils.typing import OptConfigType


@MODELS.register_module()
class BMNBackbone(BaseModule):
    """BMN's base module, temporal evaluation module and BM proposal map.

    `BMN: Boundary-Matching Network for Temporal Action Proposal Generation
    <https://arxiv.org/abs/1907.09702>`_. Layer for layer the same network
    as ``mmaction.models.BMN`` up to its 3-D convolution, but the
    Boundary-Matching layer and that convolution are computed together by
    :func:`rcl_mm.ops.car_align_with_sampling`: the projection is applied to
    the 1-D features first and the sampled taps are summed afterwards, so
    the B x C x N x D x T tensor and the dense T x (N * D * T) sampling mask
    of mmaction2 never exist. The sampling plan of the grid is a
    non-persistent buffer, so it stays out of checkpoints.

    Args:
        feat_dim (int): Channels of the input snippet features, C_in.
        temporal_dim (int): Snippets per window, T.
        duration_dim (int, optional): Anchor durations, D. Defaults to T.
        boundary_ratio (float): Each anchor's region is widened by this
            ratio of its length on each side. Defaults to 0.5.
        num_samples (int): Bins per anchor, N. Defaults to 32.
        num_samples_per_bin (int): Points per bin, S. Defaults to 3.
        hidden_dim_1d (int): Channels of the 1-D features. Defaults to 256.
        hidden_dim_3d (int): Channels of the proposal map. Defaults to 512.
        car_align_impl (str): How CARAlign sums its taps: ``'auto'``
            (default: ``'dense'`` on CUDA, ``'gather'`` elsewhere, the
            fastest measured on each), ``'gather'`` (the CPU's fast path),
            ``'dense'`` (matrix products, for GPUs; the grid's matrix is
            built once per device) or ``'triton'`` (Triton kernels, CUDA
            only; needs the ``triton`` package), see
            :func:`rcl_mm.ops.car_align_with_sampling`. Same outputs up to
            rounding.
        init_cfg (dict, optional): Initialisation config. Defaults to None,
            PyTorch's default initialisation as mmaction2's BMN.
    """

    def __init__(self,
                 feat_dim: int = 400,
                 temporal_dim: int = 100,
                 duration_dim: int = None,
                 boundary_ratio: float = 0.5,
                 num_samples: int = 32,
                 num_samples_per_bin: int = 3,
                 hidden_dim_1d: int = 256,
                 hidden_dim_3d: int = 512,
                 car_align_impl: str = 'auto',
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.feat_dim = feat_dim
        self.temporal_dim = temporal_dim
        self.duration_dim = duration_dim or temporal_dim
        self.boundary_ratio = boundary_ratio
        self.num_samples = num_samples
        self.num_samples_per_bin = num_samples_per_bin
        self.hidden_dim_1d = hidden_dim_1d
        self.hidden_dim_3d = hidden_dim_3d
        if car_align_impl not in CAR_ALIGN_IMPLS:
            raise ValueError(f'car_align_impl must be one of '
                             f'{CAR_ALIGN_IMPLS}, got {car_align_impl!r}')
        self.car_align_impl = car_align_impl

        def conv1d(in_channels, out_channels, **kwargs):
            return [
                nn.Conv1d(in_channels, out_channels, kernel_size=3,
                          padding=1, **kwargs),
                nn.ReLU(inplace=True)
            ]

        def boundary_branch():
            return nn.Sequential(
                *conv1d(hidden_dim_1d, hidden_dim_1d, groups=4),
                nn.Conv1d(hidden_dim_1d, 1, kernel_size=1), nn.Sigmoid())

        self.base = nn.Sequential(
            *conv1d(feat_dim, hidden_dim_1d, groups=4),
            *conv1d(hidden_dim_1d, hidden_dim_1d, groups=4))
        self.tem_start = boundary_branch()
        self.tem_end = boundary_branch()
        self.proposal_1d = nn.Sequential(*conv1d(hidden_dim_1d,
                                                 hidden_dim_1d))
        # Kept as a Conv3d so its parameters match mmaction2's x_3d_p.0 in
        # shape and default initialisation; only its weight and bias are
        # used, through the fused sampling below.
        self.bm_conv = nn.Conv3d(
            hidden_dim_1d, hidden_dim_3d, kernel_size=(num_samples, 1, 1))

        # The plan covers all D x T anchors in row-major (d, t) order, so
        # the op writes the map directly; anchors that end past the window
        # get zero weights (mmaction2 zeroes their mask), and zero-weight
        # taps are dropped by the op, so they cost nothing.
        d = torch.arange(self.duration_dim, dtype=torch.float64)
        t = torch.arange(self.temporal_dim, dtype=torch.float64)
        starts = t.view(1, -1).expand(self.duration_dim, -1)
        ends = starts + d.view(-1, 1)
        valid = ends <= self.temporal_dim - 1
        index, weight = car_align_sampling(
            torch.stack([starts, ends], dim=-1).view(-1, 2),
            self.temporal_dim, num_samples, num_samples_per_bin,
            boundary_ratio)
        weight = weight * valid.view(-1, 1, 1)
        self.register_buffer('grid_sample_index', index, persistent=False)
        self.register_buffer('grid_sample_weight', weight.float(),
                             persistent=False)
        self.register_buffer('valid_mask', valid.float(), persistent=False)
        # The grid plan as the dense path's matrix, per device: built on
        # first use, since the plan never changes.
        self._grid_matrices = {}

    def grid_matrix(self, device: torch.device) -> Tensor:
        """The grid's :func:`~rcl_mm.ops.dense_sampling_matrix` on
        ``device``, (D * T, T * N) float32, built once per device."""
        key = str(device)
        if key not in self._grid_matrices:
            self._grid_matrices[key] = dense_sampling_matrix(
                self.grid_sample_index.to(device),
                self.grid_sample_weight.to(device), self.temporal_dim)
        return self._grid_matrices[key]

    def boundary_matching(self, proposal_feat: Tensor) -> Tensor:
        """The BM layer and 3-D convolution, fused, with ReLU.

        Args:
            proposal_feat (Tensor): B x C x T 1-D proposal features.

        Returns:
            Tensor: B x O x D x T proposal map. Anchors past the window's
            end read no features, so they hold ReLU(bias) as in mmaction2.
        """
        batch = proposal_feat.size(0)
        weight = self.bm_conv.weight.flatten(2)  # O x C x N
        # B x (D * T) x O: viewed as B x O x D x T it is a channels-last
        # map, the layout in which the 2-D convolutions after it run
        # fastest on the CPU, with no copy in between.
        impl = resolve_car_align_impl(self.car_align_impl,
                                      proposal_feat.device)
        sampled = car_align_with_sampling(
            proposal_feat, self.grid_sample_index,
            self.grid_sample_weight.to(proposal_feat.dtype), weight,
            channels_last=True, impl=impl,
            dense_matrix=self.grid_matrix(proposal_feat.device)
            if impl == 'dense' else None)
        # In place: the op keeps nothing of its output for its backward.
        out = sampled.add_(self.bm_conv.bias.to(sampled.dtype)).relu_()
        return out.view(batch, self.duration_dim, self.temporal_dim,
                        self.hidden_dim_3d).permute(0, 3, 1, 2)

    def segment_features(self, proposal_feat: Tensor,
                         segments: Tensor) -> Tensor:
        """Proposal features of any continuous segments (CARAlign).

        The same sampling, projection, bias and ReLU as the grid map, so a
        grid cell ``(d, t)`` given as the segment ``[t, t + d + 1]`` gets
        exactly ``proposal_map[:, :, d, t]``.

        Args:
            proposal_feat (Tensor): B x C x T 1-D proposal features
                (``proposal_feat`` of :meth:`forward`).
            segments (Tensor): B x K x 2 (start, end) in snippet-boundary
                units, [0, T]; the BM layer reads the segment
                ``[s, e]`` as the snippet-index segment ``(s, e - 1)``.

        Returns:
            Tensor: B x O x K features. Segments that end past the window
            (``e > T``) read nothing, as the grid's anchors past the end.
        """
        index_segments = torch.stack(
            (segments[..., 0], segments[..., 1] - 1), dim=-1)
        weight = self.bm_conv.weight.flatten(2)
        sampled = car_align(
            proposal_feat, index_segments.to(proposal_feat.dtype),
            self.num_samples, self.num_samples_per_bin, self.boundary_ratio,
            proj_weight=weight, impl=self.car_align_impl)
        inside = (segments[..., 1] <= self.temporal_dim + 1e-6)
        sampled = sampled * inside[:, None, :].to(sampled.dtype)
        return (sampled + self.bm_conv.bias.view(1, -1, 1)).relu()

    def forward(self, x: Tensor) -> Dict[str, Tensor]:
        """Compute the boundary probabilities and the proposal map.

        Args:
            x (Tensor): B x C_in x T snippet features.

        Returns:
            dict: ``base_feat`` (B x hidden_dim_1d x T), ``start`` and
            ``end`` (B x T, probabilities), ``proposal_map``
            (B x hidden_dim_3d x D x T) and ``proposal_feat``
            (B x hidden_dim_1d x T, the 1-D features the map is sampled
            from, for :meth:`segment_features`).
        """
        base_feat = self.base(x)
        start = self.tem_start(base_feat).squeeze(1)
        end = self.tem_end(base_feat).squeeze(1)
        proposal_feat = self.proposal_1d(base_feat)
        proposal_map = self.boundary_matching(proposal_feat)
        return dict(
            base_feat=base_feat,
            proposal_feat=proposal_feat,
            start=start,
            end=end,
            proposal_map=proposal_map)
