# Copyright (c) rcl_mm contributors. All rights reserved.
"""The THUMOS14 configs: settings, and their models on windows."""
import os.path as osp

import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.registry import DefaultScope

import rcl_mm  # noqa: F401
from rcl_mm.apis.inference import window_settings
from rcl_mm.registry import DATASETS, MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
THUMOS = ['configs/bmn_thumos.py', 'configs/rcl_bmn_thumos.py',
          'configs/gtad_thumos.py', 'configs/rcl_gtad_thumos.py']
DEMOS = ['configs/demo/bmn_thumos_demo.py',
         'configs/demo/rcl_bmn_thumos_demo.py',
         'configs/demo/gtad_thumos_demo.py',
         'configs/demo/rcl_gtad_thumos_demo.py']
# Reduced widths so that a forward pass at T = 256, 2048-d is quick.
SMALL = {
    'model.backbone.hidden_dim_1d': 16, 'model.backbone.hidden_dim_3d': 16,
    'model.backbone.num_samples': 4, 'model.head.in_channels': 16,
    'model.head.hidden_channels': 8,
}
SMALL_GTAD = {'model.backbone.groups': 4, 'model.backbone.width_group': 4,
              'model.backbone.num_context_samples': 2}
SMALL_RCL = {
    'model.head.mlp_channels': 8, 'model.neck.in_channels': 8,
    'model.neck.hdim': 8, 'model.neck.cdim': 4,
    'model.neck.map_channels': 4, 'model.neck.feat_channels': 4,
    'model.neck.head_channels': 4, 'model.neck.stride': 8,
    'model.neck.iters': 2,
    'model.train_cfg.sampler.num_random': 16,
}


def load(config):
    return Config.fromfile(osp.join(ROOT, config))


@pytest.mark.parametrize('config', THUMOS)
def test_thumos_settings(config):
    cfg = load(config)
    backbone = cfg.model.backbone
    assert (backbone.temporal_dim, backbone.duration_dim,
            backbone.feat_dim) == (256, 64, 2048)
    for split in ('train', 'val', 'test'):
        dataset = cfg[f'{split}_dataloader'].dataset
        assert dataset.type == 'ThumosFeatureDataset'
        assert dataset.window_size == 256
        assert dataset.pipeline[0] == dict(type='LoadWindowFeature',
                                           feat_dim=2048)
    assert cfg.train_dataloader.dataset.min_inside == 0.9
    assert not cfg.train_dataloader.dataset.get('test_mode', False)
    assert cfg.test_dataloader.dataset.test_mode
    evaluator = cfg.test_evaluator
    assert evaluator.dataset == 'thumos14'
    assert evaluator.class_scores == dict(
        file='data/thumos14/uNet_test.npy', format='thumos_npy', top_k=2)
    # G-TAD: its own Soft_NMS of the merged windows (configs/gtad_thumos.py).
    gtad = 'gtad_thumos' in config and 'rcl' not in config
    alpha, rule = (0.46, 'gtad') if gtad else (0.3, 'mmaction2')
    assert evaluator.merge_windows.soft_nms_alpha == alpha
    assert evaluator.merge_windows.top_k == 200
    assert window_settings(cfg) == dict(
        window_overlap=128, snippet_stride=5, fps=30.0,
        merge=dict(soft_nms_alpha=alpha, soft_nms_low_threshold=0.,
                   soft_nms_high_threshold=0., top_k=200, rule=rule))
    if 'gtad_thumos' in config and 'rcl' not in config:
        # G-TAD's THUMOS setting: lr 4e-5, 8 windows per step (2 x 4).
        assert cfg.optim_wrapper.optimizer.lr == 4e-5
        assert cfg.train_dataloader.batch_size == 4
        assert cfg.auto_scale_lr.base_batch_size == 8
        assert cfg.train_cfg.max_epochs == 10


@pytest.mark.parametrize('config', THUMOS)
def test_thumos_models_predict_windows(config):
    cfg = load(config)
    small = dict(SMALL)
    if cfg.model.backbone.type == 'GTADBackbone':
        small.update(SMALL_GTAD)
    if cfg.model.type == 'RCLLocalizer':
        small.update(SMALL_RCL)
    cfg.merge_from_dict(small)
    with DefaultScope.overwrite_default_scope('rcl_mm'):
        model = MODELS.build(cfg.model).eval()
    torch.manual_seed(0)
    inputs = torch.randn(2, 2048, 256)
    samples = [
        ActionDataSample(metainfo=dict(
            video_name='video_test_0000004', window_start=start,
            valid_length=valid, snippet_seconds=1 / 6))
        for start, valid in ((0, 256), (128, 200))
    ]
    with torch.no_grad():
        results = model(inputs, samples, mode='predict')
    for sample, result in zip(samples, results):
        segs = result.pred_instances.segments
        assert 0 < len(segs) <= cfg.model.test_cfg.window_top_k
        start = sample.window_start / 6
        end = (sample.window_start + sample.valid_length) / 6
        assert float(segs.min()) >= start - 1e-5
        assert float(segs.max()) <= end + 1e-5


@pytest.mark.parametrize('config', DEMOS)
def test_demo_configs_are_consistent(config):
    cfg = load(config)
    backbone = cfg.model.backbone
    for split in ('train', 'val', 'test'):
        dataset = cfg[f'{split}_dataloader'].dataset
        assert dataset.window_size == backbone.temporal_dim == 128
        assert dataset.pipeline[0].feat_dim == backbone.feat_dim == 64
        assert dataset.data_prefix.video == 'data/demo_thumos/data/features'
    assert cfg.test_evaluator.class_scores.file == \
        'data/demo_thumos/annotations/uNet_test.npy'
    with DefaultScope.overwrite_default_scope('rcl_mm'):
        MODELS.build(cfg.model)
        DATASETS.build(dict(cfg.train_dataloader.dataset, lazy_init=True))
