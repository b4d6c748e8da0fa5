# Copyright (c) rcl_mm contributors. All rights reserved.
"""Tiny RCL models and samples shared by the RCL test files."""
import os.path as osp

import torch
from mmaction.structures import ActionDataSample
from mmengine.structures import InstanceData

from rcl_mm.models import BMNBackbone, RCLLocalizer

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
T, D, C_IN = 16, 12, 12


def tiny_backbone():
    return BMNBackbone(feat_dim=C_IN, temporal_dim=T, duration_dim=D,
                       num_samples=4, hidden_dim_1d=16, hidden_dim_3d=24)


def tiny_model(mode='nearest', iters=3, **kwargs):
    torch.manual_seed(0)
    return RCLLocalizer(
        backbone=dict(type='BMNBackbone', feat_dim=C_IN, temporal_dim=T,
                      duration_dim=D, num_samples=4, hidden_dim_1d=16,
                      hidden_dim_3d=24),
        head=dict(type='RCLHead', in_channels=24, hidden_channels=8,
                  mlp_channels=8, mode=mode),
        neck=dict(type='RRMRefiner', in_channels=8, hdim=8, cdim=4,
                     map_channels=4, feat_channels=4, head_channels=4,
                     stride=2, iters=iters),
        **kwargs)


def make_samples(batch):
    gts = [[[0.1, 0.4]], [[0.05, 0.2], [0.5, 0.95]], [[0.3, 0.35]]]
    samples = []
    for i in range(batch):
        sample = ActionDataSample()
        sample.gt_instances = InstanceData(
            gt_bbox=torch.tensor(gts[i % 3]))
        sample.set_metainfo(dict(video_name=f'v_{i}', duration_second=20.))
        samples.append(sample)
    return samples


def randomize(module):
    """Make the zero-initialised output layers non-zero."""
    gen = torch.Generator().manual_seed(1)
    for name, param in module.named_parameters():
        if param.abs().max() == 0:
            param.data = 0.3 * torch.randn(param.shape, generator=gen)


def grid_cells(temporal_dim, duration_dim, dtype=torch.float32):
    """Every D x T grid cell (d, t) as the segment [t, t + d + 1] in
    snippet-boundary units, row-major (d, t): (D * T, 2)."""
    d, t = torch.meshgrid(torch.arange(duration_dim, dtype=dtype),
                          torch.arange(temporal_dim, dtype=dtype),
                          indexing='ij')
    return torch.stack((t, t + d + 1), dim=-1).reshape(-1, 2)
