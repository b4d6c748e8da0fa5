# Copyright (c) rcl_mm contributors. All rights reserved.
"""Every config under configs/ loads and builds its model and datasets."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

import rcl_mm  # noqa: F401
from rcl_mm.registry import DATASETS, MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    osp.relpath(p, ROOT)
    for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                       recursive=True)
    if '_base_' not in p
    # Recognizers of mmaction2 (tests/test_configs/test_extractor_configs.py).
    and 'feature_extraction' not in p)


def test_configs_are_found():
    assert 'configs/bmn_anet.py' in CONFIGS
    assert 'configs/demo/bmn_demo.py' in CONFIGS


@pytest.mark.parametrize('config', CONFIGS)
def test_config_builds(config):
    cfg = Config.fromfile(osp.join(ROOT, config))
    assert cfg.default_scope == 'rcl_mm'
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
        # Datasets build lazily, without reading the annotation file.
        dataset_cfg = dict(cfg.train_dataloader.dataset, lazy_init=True)
        dataset = DATASETS.build(dataset_cfg)
    backbone = cfg.model.get('backbone', {})
    temporal_dim = backbone.get('temporal_dim', 100)
    feat_dim = backbone.get('feat_dim', 400)
    inputs = torch.randn(1, feat_dim, temporal_dim)
    with torch.no_grad():
        confidence_map, start, end = model(inputs, None, mode='tensor')
    duration_dim = backbone.get('duration_dim', temporal_dim)
    assert confidence_map.shape == (1, 2, duration_dim, temporal_dim)
    assert start.shape == end.shape == (1, temporal_dim)
    assert 0 <= float(confidence_map.min()) <= float(
        confidence_map.max()) <= 1
    assert type(dataset).__name__ == cfg.train_dataloader.dataset.type
