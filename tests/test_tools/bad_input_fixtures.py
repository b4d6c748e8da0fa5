# Copyright (c) rcl_mm contributors. All rights reserved.
"""A tiny config, data and checkpoints for the bad-input tests.

Everything the tools need, built in seconds: 6 synthetic demo videos
(npy), a config of the demo BMN shrunk to a few thousand parameters that
reads them, an untrained checkpoint of it (the tools only need weights
that fit), a truncated copy of it, and results / ground-truth JSONs.
"""
import json
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

import rcl_mm  # noqa: F401
from rcl_mm.datasets.synthetic import synthesize_demo_dataset
from rcl_mm.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

CONFIG = '''_base_ = [{base!r}]
model = dict(
    backbone=dict(num_samples=4, hidden_dim_1d=16, hidden_dim_3d=16),
    head=dict(in_channels=16, hidden_channels=8))
_loader = dict(
    num_workers=0, persistent_workers=False, batch_size=2,
    dataset=dict(ann_file={ann!r}, data_prefix=dict(video={video!r}),
                 feature_ext='.npy'))
train_dataloader = _loader
val_dataloader = _loader
test_dataloader = _loader
train_cfg = dict(max_epochs=1, val_interval=1)
work_dir = {work!r}
'''


def build_bad_input_case(root: str) -> dict:
    """Write the tiny demo case under ``root``; return its paths."""
    data_dir = osp.join(root, 'data')
    synthesize_demo_dataset(data_dir, seed=3, num_train=4, num_val=2,
                            formats=('npy', ))
    ann = osp.join(data_dir, 'anet_anno_train.json')
    config = osp.join(root, 'tiny_bmn.py')
    with open(config, 'w') as f:
        f.write(CONFIG.format(
            base=osp.join(ROOT, 'configs', 'demo', 'bmn_demo.py'), ann=ann,
            video=osp.join(data_dir, 'npy'), work=osp.join(root, 'work')))
    cfg = Config.fromfile(config)
    with DefaultScope.overwrite_default_scope('rcl_mm'):
        model = MODELS.build(cfg.model)
    checkpoint = osp.join(root, 'tiny.pth')
    torch.save(dict(meta=dict(), state_dict=model.state_dict()), checkpoint)
    truncated = osp.join(root, 'truncated.pth')
    with open(checkpoint, 'rb') as src, open(truncated, 'wb') as dst:
        data = src.read()
        dst.write(data[:len(data) // 2])
    with open(osp.join(data_dir, 'anet_anno_val.json')) as f:
        val = json.load(f)
    gt = osp.join(root, 'gt.json')
    with open(gt, 'w') as f:
        json.dump(val, f)
    video = sorted(val)[0]
    info = val[video]
    label = info['annotations'][0]['label']
    return dict(root=root, data_dir=data_dir, config=config,
                checkpoint=checkpoint, truncated=truncated, gt=gt,
                video=video[2:], label=label,
                segment=list(info['annotations'][0]['segment']),
                features=osp.join(data_dir, 'npy'))


def write_results(path: str, video: str, detections: list) -> str:
    """An official results JSON with one video's detections."""
    with open(path, 'w') as f:
        # allow_nan: json writes NaN as a user's file would have it.
        json.dump(dict(version='VERSION 1.3', results={video: detections},
                       external_data={}), f)
    return path
