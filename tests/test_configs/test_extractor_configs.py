# Copyright (c) rcl_mm contributors. All rights reserved.
"""The feature-extractor configs: mmaction2's recognizers, nothing fetched.
"""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from rcl_mm.apis.feature_extraction import (EXTRACTION_DEFAULTS,
                                            init_feature_extractor)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    osp.relpath(p, ROOT) for p in glob.glob(
        osp.join(ROOT, 'configs', 'feature_extraction', '*.py')))
# Config -> (feature dim, frames per clip to test with at 64 x 64).
EXPECTED = {
    'configs/feature_extraction/tiny_r18_1stage_test.py': (64, 2),
    'configs/feature_extraction/tsn_r50_rgb.py': (2048, 1),
    'configs/feature_extraction/i3d_r50_rgb.py': (2048, 8),
    'configs/feature_extraction/videomae_vit_b_rgb.py': (768, 16),
}


def test_every_extractor_config_is_tested():
    assert CONFIGS == sorted(EXPECTED)


@pytest.mark.parametrize('config', CONFIGS)
def test_extractor_config_inherits_mmaction2_and_fetches_nothing(config):
    with open(osp.join(ROOT, config), encoding='utf-8') as f:
        assert "'mmaction::recognition/" in f.read()
    cfg = Config.fromfile(osp.join(ROOT, config))
    assert cfg.model.type in ('Recognizer2D', 'Recognizer3D')
    # Weights come from the user's checkpoint only.
    assert not cfg.model.backbone.get('pretrained')
    assert set(cfg.feature_extraction) == set(EXTRACTION_DEFAULTS)


@pytest.mark.parametrize('config', CONFIGS)
def test_extractor_config_builds_and_gives_its_feature_dim(config):
    feat_dim, clip_len = EXPECTED[config]
    extractor = init_feature_extractor(
        osp.join(ROOT, config), random_weights=True,
        settings=dict(crop_size=32 if 'tiny' in config else 64,
                      short_side=64, clip_len=clip_len))
    assert extractor.feat_dim == feat_dim
    size = extractor.settings.crop_size
    clips = torch.randint(0, 256, (2, clip_len, 3, size, size),
                          dtype=torch.uint8)
    features = extractor.forward(clips)
    assert features.shape == (2, feat_dim)
    assert torch.isfinite(features).all()
