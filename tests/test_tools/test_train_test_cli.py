# Copyright (c) rcl_mm contributors. All rights reserved.
"""tools/train.py and tools/test.py from the command line."""
import glob
import json
import os.path as osp
import subprocess
import sys

import pytest
from cli_helpers import ROOT, run
from demo_options import dataloader_options

from rcl_mm.datasets.synthetic import synthesize_demo_dataset


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('cli_demo'))
    synthesize_demo_dataset(out, seed=1, num_train=8, num_val=4,
                            formats=('npy', ))
    return out


def options(data_dir):
    opts = [
        'model.backbone.num_samples=4', 'model.backbone.hidden_dim_1d=16',
        'model.backbone.hidden_dim_3d=16', 'model.head.in_channels=16',
        'model.head.hidden_channels=8', 'train_cfg.max_epochs=1',
        'train_cfg.val_interval=1'
    ]
    opts += dataloader_options(data_dir, batch_size=4)
    return opts


def test_train_then_test_writes_official_results(data_dir, tmp_path):
    work_dir = str(tmp_path / 'work')
    run(['tools/train.py', 'configs/demo/bmn_demo.py', '--work-dir',
         work_dir, '--cfg-options'] + options(data_dir))
    checkpoint = osp.join(work_dir, 'epoch_1.pth')
    assert osp.isfile(checkpoint)
    out = str(tmp_path / 'detections.json')
    stdout = run(['tools/test.py', 'configs/demo/bmn_demo.py', checkpoint,
                  '--work-dir', work_dir, '--out', out, '--cfg-options'] +
                 options(data_dir))
    values = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip('|').split('|')]
        if len(cells) == 2 and cells[0].startswith('activitynet/'):
            values[cells[0][len('activitynet/'):]] = float(cells[1])
    assert list(values) == ['AR@1', 'AR@5', 'AR@10', 'AR@100', 'AUC']
    assert 0 <= values['AR@1'] <= values['AR@100'] <= 1
    assert 0 <= values['AUC'] <= 100
    with open(out) as f:
        results = json.load(f)
    assert results['version'] == 'VERSION 1.3'
    with open(osp.join(data_dir, 'anet_anno_val.json')) as f:
        videos = json.load(f)
    assert sorted(results['results']) == sorted(v[2:] for v in videos)
    for video, detections in results['results'].items():
        duration = videos['v_' + video]['duration_second']
        assert 0 < len(detections) <= 100
        scores = [d['score'] for d in detections]
        assert scores == sorted(scores, reverse=True)
        for det in detections:
            assert 0 <= det['segment'][0] <= det['segment'][1] <= duration


# What mmengine prints when a scope has no child registry, a metric has no
# prefix, or the multi-processing set-up overrides thread counts.
NOISE = ('Failed to search registry', 'prefix is not set',
         'MKL_NUM_THREADS', 'OMP_NUM_THREADS', 'MultiScaleDeformableAttention')


def test_one_demo_epoch_prints_no_scope_prefix_or_repeated_config_noise(
        data_dir, tmp_path):
    """One demo epoch: no registry-scope or metric-prefix warning, the
    config printed once, each metric named with its prefix."""
    work_dir = str(tmp_path / 'quiet')
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', 'configs/demo/bmn_demo.py',
         '--work-dir', work_dir, '--cfg-options'] + options(data_dir),
        cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    printed = proc.stdout + proc.stderr
    (log_file, ) = glob.glob(osp.join(work_dir, '*', '*.log'))
    with open(log_file) as f:
        logged = f.read()
    for text in (printed, logged):
        for noise in NOISE:
            assert noise not in text, noise
        assert text.count('Config:\n') == 1
        assert 'activitynet/AR@100: ' in text
    # The only warnings left are mmengine's own, documented in
    # docs/getting_started.md ("Process-wide fixes and warnings").
    warnings = [
        line for line in printed.splitlines()
        if 'WARNING' in line or 'Warning:' in line
    ]
    known = ('pkg_resources is deprecated', '"FileClient" will be deprecated',
             '"HardDiskBackend" is the alias')
    assert all(any(k in line for k in known) for line in warnings), warnings
