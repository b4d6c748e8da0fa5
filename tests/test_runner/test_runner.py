# Copyright (c) rcl_mm contributors. All rights reserved.
"""The mmengine Runner trains, resumes and tests our models end to end."""
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import rcl_mm  # noqa: F401
from rcl_mm.datasets.synthetic import synthesize_demo_dataset
from rcl_mm.utils.launch import prepare_config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_MODEL = dict(
    backbone=dict(num_samples=4, hidden_dim_1d=16, hidden_dim_3d=16),
    head=dict(in_channels=16, hidden_channels=8))


@pytest.fixture(scope='module')
def demo_data(tmp_path_factory):
    """A small synthetic set: 16 training and 8 validation videos."""
    out = str(tmp_path_factory.mktemp('demo'))
    synthesize_demo_dataset(out, seed=0, num_train=16, num_val=8)
    return out


def data_options(data_dir):
    options = {}
    for split, ann in (('train', 'train'), ('val', 'val'), ('test', 'val')):
        key = f'{split}_dataloader'
        options[f'{key}.dataset.ann_file'] = osp.join(
            data_dir, f'anet_anno_{ann}.json')
        options[f'{key}.dataset.data_prefix.video'] = osp.join(
            data_dir, 'csv_mean_100')
        options[f'{key}.num_workers'] = 0
        options[f'{key}.persistent_workers'] = False
        options[f'{key}.batch_size'] = 4
    return options


def tiny_demo_cfg(data_dir, work_dir, max_epochs=2):
    options = data_options(data_dir)
    options.update({
        'model': TINY_MODEL,
        'train_cfg.max_epochs': max_epochs,
        'train_cfg.val_interval': max_epochs,
        'default_hooks.checkpoint.max_keep_ckpts': 3,
        'default_hooks.logger.interval': 1,
        'randomness.seed': 0,
    })
    return prepare_config(
        osp.join(ROOT, 'configs/demo/bmn_demo.py'), work_dir=work_dir,
        cfg_options=options)


def test_train_resume_and_test(demo_data, tmp_path):
    """Train and test; then train one epoch, resume and train the second."""
    straight = Runner.from_cfg(tiny_demo_cfg(demo_data, str(tmp_path / 'a')))
    straight.train()
    metrics = straight.test()
    # TADMetric: AR@AN in [0, 1], non-decreasing in AN; AUC in percent;
    # each name prefixed with the dataset.
    assert list(metrics) == [f'activitynet/{name}' for name in (
        'AR@1', 'AR@5', 'AR@10', 'AR@100', 'AUC')]
    metrics = {k.split('/')[1]: v for k, v in metrics.items()}
    assert 0 < metrics['AR@100'] <= 1
    assert metrics['AR@1'] <= metrics['AR@5'] <= metrics['AR@10'] \
        <= metrics['AR@100']
    assert 0 < metrics['AUC'] <= 100

    # The log has each loss part under its own name.
    log_dir = straight.log_dir
    scalars = osp.join(log_dir, 'vis_data', 'scalars.json')
    with open(scalars) as f:
        first = json.loads(f.readline())
    for key in ('loss_tem_start', 'loss_tem_end', 'loss_pem_reg',
                'loss_pem_cls', 'loss'):
        assert key in first

    work_dir = str(tmp_path / 'b')
    Runner.from_cfg(tiny_demo_cfg(demo_data, work_dir, max_epochs=1)).train()
    # torch >= 2.6 loads with weights_only=True; rcl_mm allows the types
    # mmengine writes, so resuming works without any setting.
    checkpoint = torch.load(osp.join(work_dir, 'epoch_1.pth'))
    assert checkpoint['meta']['epoch'] == 1
    cfg = tiny_demo_cfg(demo_data, work_dir)
    cfg.resume = True
    resumed = Runner.from_cfg(cfg)
    resumed.train()
    # The optimizer state came back: Adam counted the steps of both epochs
    # (16 videos, batch 4: 4 iterations per epoch).
    assert resumed.epoch == 2 and resumed.iter == 8
    adam_state = resumed.optim_wrapper.optimizer.state
    assert all(int(s['step']) == 8 for s in adam_state.values())
    resumed_metrics = resumed.test()
    assert 0 < resumed_metrics['activitynet/AR@100'] <= 1

    # The results file is the official ActivityNet results JSON.
    assert cfg.test_evaluator.dump == osp.join(work_dir, 'results.json')
    with open(cfg.test_evaluator.dump) as f:
        results = json.load(f)
    assert results['version'] == 'VERSION 1.3'
    with open(osp.join(demo_data, 'anet_anno_val.json')) as f:
        val_videos = json.load(f)
    assert set(results['results']) == {v[2:] for v in val_videos}
    first = next(iter(results['results'].values()))[0]
    assert set(first) == {'segment', 'score'}
    assert first['segment'][0] <= first['segment'][1]


def test_mmaction2_config_with_only_the_model_swapped(demo_data, tmp_path):
    """mmaction2's own BMN config runs with ``type='rcl_mm.BMN'``."""
    # The user's config, exactly as the README shows it.
    user_config = tmp_path / 'my_bmn.py'
    user_config.write_text(
        "_base_ = 'mmaction::localization/bmn/"
        "bmn_2xb8-400x100-9e_activitynet-feature.py'\n"
        "custom_imports = dict(imports=['rcl_mm'], "
        "allow_failed_imports=False)\n"
        "model = dict(type='rcl_mm.BMN')\n")
    cfg = Config.fromfile(str(user_config))
    assert cfg.default_scope == 'mmaction'
    assert cfg.model.type == 'rcl_mm.BMN'
    assert cfg.model.temporal_dim == 100 and cfg.model.feat_dim == 400
    cfg.merge_from_dict(data_options(demo_data))
    cfg.merge_from_dict(
        dict(
            # A smaller network so the test is quick.
            model=dict(
                num_samples=4, hidden_dim_1d=16,
                hidden_dim_2d=8, hidden_dim_3d=16),
            train_cfg=dict(max_epochs=1, val_interval=1),
            work_dir=str(tmp_path),
            test_evaluator=dict(dump_config=dict(
                out=str(tmp_path / 'results.json'))),
            val_evaluator=dict(dump_config=dict(
                out=str(tmp_path / 'results.json'))),
        ))
    runner = Runner.from_cfg(cfg)
    assert type(runner.model).__module__.startswith('rcl_mm.')
    runner.train()
    metrics = runner.test()
    assert 0 < metrics['AR@100'] <= 1
    assert osp.isfile(tmp_path / 'results.json')
