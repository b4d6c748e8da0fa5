# Copyright (c) rcl_mm contributors. All rights reserved.
"""A run killed mid-epoch and resumed ends as the uninterrupted run."""
import glob
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import torch
from demo_options import dataloader_options

from rcl_mm.datasets.synthetic import synthesize_demo_dataset
from rcl_mm.utils.compat import mmengine_checkpoint_globals

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def train_cmd(data_dir, work_dir, resume=False):
    options = [
        'model.backbone.num_samples=4', 'model.backbone.hidden_dim_1d=16',
        'model.backbone.hidden_dim_3d=16', 'model.head.in_channels=16',
        'model.head.hidden_channels=8', 'train_cfg.max_epochs=3',
        'train_cfg.val_interval=1', 'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.max_keep_ckpts=5'
    ]
    options += dataloader_options(data_dir, batch_size=2)
    cmd = [
        sys.executable,
        osp.join(ROOT, 'tools/train.py'), 'configs/demo/bmn_demo.py',
        '--work-dir', work_dir
    ]
    if resume:
        cmd.append('--resume')
    return cmd + ['--cfg-options'] + options


def log_text(work_dir):
    logs = glob.glob(osp.join(work_dir, '*', '*.log'))
    return ''.join(open(p).read() for p in logs)


def test_sigkill_mid_epoch_then_resume_matches(tmp_path):
    data_dir = str(tmp_path / 'data')
    synthesize_demo_dataset(data_dir, seed=4, num_train=24, num_val=4,
                            formats=('npy', ))
    straight = str(tmp_path / 'straight')
    subprocess.run(train_cmd(data_dir, straight), cwd=ROOT, check=True,
                   capture_output=True)

    killed = str(tmp_path / 'killed')
    proc = subprocess.Popen(train_cmd(data_dir, killed), cwd=ROOT,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    # Kill once the second epoch has logged an iteration, before its end.
    while 'Epoch(train) [2][' not in log_text(killed):
        assert proc.poll() is None, 'training ended before it was killed'
        assert time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not osp.exists(osp.join(killed, 'epoch_3.pth'))
    # No half-written file is left by the kill.
    assert not [p for p in os.listdir(killed) if p.endswith('.tmp')]

    subprocess.run(train_cmd(data_dir, killed, resume=True), cwd=ROOT,
                   check=True, capture_output=True)
    assert 'Resumed' in log_text(killed) or 'resumed' in log_text(killed)
    # A checkpoint of the Runner holds mmengine objects: allowed for this
    # load only (import rcl_mm changes nothing in torch).
    with mmengine_checkpoint_globals():
        final = [
            torch.load(osp.join(d, 'epoch_3.pth'))['state_dict']
            for d in (straight, killed)
        ]
    assert final[0].keys() == final[1].keys()
    for key in final[0]:
        assert torch.equal(final[0][key], final[1][key]), key
