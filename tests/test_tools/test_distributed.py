# Copyright (c) rcl_mm contributors. All rights reserved.
"""tools/dist_train.sh and dist_test.sh on 2 CPU processes (gloo)."""
import json
import os
import os.path as osp
import random
import re
import subprocess
import sys

import pytest
from demo_options import dataloader_options

from rcl_mm.datasets.synthetic import synthesize_demo_dataset

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = 'configs/demo/bmn_demo.py'


def options(data_dir):
    opts = [
        'model.backbone.num_samples=4', 'model.backbone.hidden_dim_1d=16',
        'model.backbone.hidden_dim_3d=16', 'model.head.in_channels=16',
        'model.head.hidden_channels=8', 'train_cfg.max_epochs=1',
        'train_cfg.val_interval=1'
    ]
    opts += dataloader_options(data_dir, batch_size=2)
    return opts


def run(cmd):
    env = dict(os.environ, PORT=str(random.randint(20000, 40000)),
               PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    # The scripts call `python`; make it this interpreter.
    env['PATH'] = osp.dirname(sys.executable) + os.pathsep + env['PATH']
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc.stdout


def table(stdout):
    """Metric name -> printed value of the metrics table."""
    rows = re.findall(r'^\| (\S+)\s+\| ([-\d.]+)\s+\|$', stdout, re.M)
    assert rows, stdout[-2000:]
    return dict(rows)


def test_two_process_train_and_test_match_one_process(tmp_path):
    data_dir = str(tmp_path / 'data')
    # 13 validation videos: not divisible by 2, so one rank gets more.
    synthesize_demo_dataset(data_dir, seed=5, num_train=16, num_val=13,
                            formats=('npy', ))
    work_dir = str(tmp_path / 'train')
    run(['bash', 'tools/dist_train.sh', CONFIG, '2', '--work-dir', work_dir,
         '--cfg-options'] + options(data_dir))
    checkpoint = osp.join(work_dir, 'epoch_1.pth')
    assert osp.isfile(checkpoint)

    one = str(tmp_path / 'one.json')
    two = str(tmp_path / 'two.json')
    metrics_one = table(run([
        sys.executable, 'tools/test.py', CONFIG, checkpoint, '--work-dir',
        str(tmp_path / 'test1'), '--out', one, '--cfg-options'
    ] + options(data_dir)))
    metrics_two = table(run([
        'bash', 'tools/dist_test.sh', CONFIG, checkpoint, '2', '--work-dir',
        str(tmp_path / 'test2'), '--out', two, '--cfg-options'
    ] + options(data_dir)))
    assert set(metrics_one) >= {'activitynet/AR@1', 'activitynet/AR@100',
                                'activitynet/AUC'}
    assert metrics_one == metrics_two
    with open(one) as f1, open(two) as f2:
        results_one, results_two = json.load(f1), json.load(f2)
    assert len(results_one['results']) == 13
    # The same detections; videos are batched differently on two ranks, so
    # the convolutions may round differently in the last bits.
    assert results_one['results'].keys() == results_two['results'].keys()
    for video, dets in results_one['results'].items():
        other = results_two['results'][video]
        assert len(dets) == len(other)
        for a, b in zip(dets, other):
            assert a['score'] == pytest.approx(b['score'], rel=1e-5)
            assert a['segment'] == pytest.approx(b['segment'], rel=1e-5,
                                                 abs=1e-4)


# A gloo group held by a DDP model in a reference cycle, as the Runner
# holds it; prints the process's thread names after end_distributed().
GLOO_TEARDOWN = '''
import os, sys
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from rcl_mm.utils.launch import end_distributed

def threads():
    return sorted(open(f'/proc/self/task/{t}/comm').read().strip()
                  for t in os.listdir('/proc/self/task'))

dist.init_process_group('gloo', init_method='file://' + sys.argv[1],
                        rank=0, world_size=1)
holder = {'model': DistributedDataParallel(torch.nn.Linear(2, 2))}
holder['self'] = holder  # a cycle: freed by the collector only
print(any('gloo' in name for name in threads()))
del holder
end_distributed()
print(dist.is_initialized(), any('gloo' in name for name in threads()))
'''


@pytest.mark.skipif(not osp.isdir('/proc/self/task'),
                    reason='reads /proc/self/task')
def test_end_distributed_stops_the_gloo_threads(tmp_path):
    """tools/train.py and tools/test.py end with end_distributed(): with
    DDP's model gone (collected) and the group destroyed, no gloo thread
    is left to be torn down at the interpreter's exit, where it aborted
    a torchrun job now and then ('terminate called without an active
    exception') after the work was done."""
    out = subprocess.run(
        [sys.executable, '-c', GLOO_TEARDOWN, str(tmp_path / 'store')],
        cwd=ROOT, capture_output=True, text=True, check=True,
        env=dict(os.environ, PYTHONPATH=ROOT)).stdout.split()
    assert out == ['True', 'False', 'False']


def test_zero_iterations_per_process_stop_every_process(tmp_path):
    """4 training videos over 2 processes with batch_size 3 (drop_last):
    each process would train nothing. Both stop before the first step
    with the numbers, and no checkpoint is written."""
    data_dir = str(tmp_path / 'data')
    synthesize_demo_dataset(data_dir, seed=5, num_train=4, num_val=2,
                            formats=('npy', ))
    work_dir = str(tmp_path / 'train')
    env = dict(os.environ, PORT=str(random.randint(20000, 40000)),
               PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    env['PATH'] = osp.dirname(sys.executable) + os.pathsep + env['PATH']
    proc = subprocess.run(
        ['bash', 'tools/dist_train.sh', CONFIG, '2', '--work-dir', work_dir,
         '--cfg-options'] + options(data_dir) +
        ['train_dataloader.batch_size=3'],
        cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode != 0
    message = ('error: training would run 0 iterations per epoch: 4 '
               'video(s) over 2 process(es) give 2 per process, fewer than '
               'batch_size=3 with drop_last=True (train_dataloader)')
    assert proc.stderr.count(message) == 2, proc.stderr[-4000:]
    assert 'semaphore' not in proc.stderr
    assert not [f for f in os.listdir(work_dir) if f.endswith('.pth')]
