# Copyright (c) rcl_mm contributors. All rights reserved.
"""tools/demo.py prints, per model, a titled metrics table, the training
and test times, and the paths of its results and timeline plot."""
import importlib.util
import os.path as osp
import re
import sys

from rcl_mm.datasets.synthetic import synthesize_demo_dataset
from rcl_mm.utils import launch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def load_demo():
    spec = importlib.util.spec_from_file_location(
        'demo_tool', osp.join(ROOT, 'tools', 'demo.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_report(tmp_path, monkeypatch, capsys):
    demo = load_demo()
    # The demo's own flow on 8 + 4 videos and one epoch of small models.
    monkeypatch.setattr(
        demo, 'synthesize_demo_dataset',
        lambda out, seed: synthesize_demo_dataset(
            out, seed=seed, num_train=8, num_val=4))
    tiny = {
        'train_cfg.max_epochs': 1, 'train_cfg.val_interval': 1,
        'model.backbone.num_samples': 4, 'model.backbone.hidden_dim_1d': 16,
        'model.backbone.hidden_dim_3d': 16, 'model.head.in_channels': 16,
        'model.head.hidden_channels': 8
    }
    for split in ('train', 'val', 'test'):
        tiny[f'{split}_dataloader.num_workers'] = 0
        tiny[f'{split}_dataloader.persistent_workers'] = False

    def prepare_config(config, work_dir, cfg_options):
        return launch.prepare_config(config, work_dir,
                                     dict(cfg_options, **tiny))

    monkeypatch.setattr(demo, 'prepare_config', prepare_config)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, 'argv', [
        'demo.py', '--data-dir', str(tmp_path / 'data'), '--work-dir',
        str(tmp_path / 'work'), '--configs', 'configs/demo/bmn_demo.py'
    ])
    demo.main()
    out = capsys.readouterr().out
    report = out[out.index('+--'):].splitlines()
    # A title row (the title is wider than the table) naming model and
    # split, then the table, the times and the files.
    assert report[1] == ('| bmn_demo | test split anet_anno_val.json '
                         '(4 videos) |')
    assert '| activitynet/AR@100 |' in '\n'.join(report)
    (times, ) = [line for line in report if line.startswith('training:')]
    assert re.fullmatch(r'training: \d+ s, test: \d+ s', times)
    results = report[-2].split('results:')[1].strip()
    timeline = report[-1].split('timeline:')[1].strip()
    assert results == osp.join('work', 'bmn_demo', 'results.json')
    assert timeline == osp.join('work', 'bmn_demo', 'timeline.png')
    assert osp.isfile(tmp_path / results) and osp.isfile(tmp_path / timeline)
