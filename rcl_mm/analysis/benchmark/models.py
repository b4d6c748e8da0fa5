# Copyright (c) rcl_mm contributors. All rights reserved.
"""The benchmark's models with seeded weights, their batch and step."""
import os.path as osp
from typing import Callable, List, Tuple

import torch

from .config import CONFIGS, ROOT
from .timing import autocast


def mmaction2_bmn_class():
    """mmaction2's ``BMN`` class (importable since rcl_mm, this module's
    package, patched ``mmaction.models``)."""
    from mmaction.models import BMN
    return BMN


def build_model(name: str, params: dict, soft_nms_impl: str = 'auto'):
    """One model with seeded weights at a setting.

    ``mmaction2`` is mmaction2's BMN (its map is T x T whatever D);
    ``bmn`` where D = T is our BMN with mmaction2's weights converted, so
    that both give the same outputs; otherwise the model of its config
    (:data:`~rcl_mm.analysis.benchmark.config.CONFIGS`).

    Args:
        name (str): A model of ``MODELS``.
        params (dict): The setting (``setting_params``).
        soft_nms_impl (str): Soft-NMS of ours, ``'auto'`` (``'triton'`` on
            CUDA where it imports), ``'torch'`` or ``'triton'``.

    Returns:
        nn.Module: The model, on the CPU.
    """
    MMBMN = mmaction2_bmn_class()
    torch.manual_seed(0)
    bmn_kwargs = dict(
        temporal_dim=params['temporal_dim'], boundary_ratio=0.5,
        num_samples=32, num_samples_per_bin=3, feat_dim=params['feat_dim'],
        soft_nms_alpha=params['soft_nms_alpha'],
        soft_nms_low_threshold=params['soft_nms_low_threshold'],
        soft_nms_high_threshold=params['soft_nms_high_threshold'],
        post_process_top_k=params['top_k'])
    same_grid = params['duration_dim'] == params['temporal_dim']
    if name == 'mmaction2':
        return MMBMN(**bmn_kwargs)
    if name == 'bmn' and same_grid:
        from rcl_mm.models import BMN
        from rcl_mm.utils import convert_mmaction2_bmn
        reference = MMBMN(**bmn_kwargs)
        ours = BMN(**bmn_kwargs)
        ours.load_state_dict(convert_mmaction2_bmn(reference.state_dict()))
        ours.test_cfg['soft_nms_impl'] = soft_nms_impl
        return ours
    from mmengine.config import Config

    from rcl_mm.apis import init_localizer
    cfg = Config.fromfile(osp.join(ROOT, CONFIGS[name]))
    cfg.model.backbone.update(
        feat_dim=params['feat_dim'], temporal_dim=params['temporal_dim'],
        duration_dim=params['duration_dim'])
    cfg.model.test_cfg.update(
        soft_nms_alpha=params['soft_nms_alpha'],
        soft_nms_low_threshold=params['soft_nms_low_threshold'],
        soft_nms_high_threshold=params['soft_nms_high_threshold'],
        top_k=params['top_k'], soft_nms_impl=soft_nms_impl)
    return init_localizer(cfg)


def make_batch(batch: int, params: dict, device: torch.device
               ) -> Tuple[List[torch.Tensor], list]:
    """Seeded features and data samples with 3 instances each.

    Returns:
        tuple: ``batch`` tensors (C, T) on ``device`` and their
        ``ActionDataSample`` s.
    """
    from mmaction.structures import ActionDataSample
    from mmengine.structures import InstanceData
    gen = torch.Generator().manual_seed(1)
    inputs = torch.rand(batch, params['feat_dim'], params['temporal_dim'],
                        generator=gen)
    samples = []
    for i in range(batch):
        start = torch.rand(3, generator=gen) * 0.6
        length = torch.rand(3, generator=gen) * 0.3 + 0.05
        sample = ActionDataSample()
        sample.gt_instances = InstanceData(
            gt_bbox=torch.stack([start, start + length], 1).to(device))
        sample.set_metainfo(
            dict(video_name=f'v_bench{i}', duration_second=120.0,
                 duration_frame=3600, feature_frame=3584))
        samples.append(sample)
    return list(inputs.to(device)), samples


def training_step(model, inputs, samples, args, device: torch.device
                  ) -> Callable[[], None]:
    """A closure running one training step of ``model`` (forward and loss
    under ``args.amp``, backward, Adam), with its own optimizer."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step():
        with autocast(args, device):
            losses = model(inputs, samples, mode='loss')
            total = sum(v for k, v in losses.items() if 'loss' in k)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()

    return step
