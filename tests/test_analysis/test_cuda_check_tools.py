# Copyright (c) rcl_mm contributors. All rights reserved.
"""The tools of tools/analysis/cuda_check.sh that also run on the CPU:
the loss comparison, and the profiler script's parts (timings on the CPU
only check that every part runs)."""
import json
import os.path as osp
import subprocess
import sys

import pytest
from analysis_tools import load_tool

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def write_run(work_dir, steps):
    """A work dir as mmengine leaves it: run/vis_data/scalars.json."""
    path = work_dir / '20260101_000000' / 'vis_data'
    path.mkdir(parents=True)
    with open(path / 'scalars.json', 'w') as f:
        for step, losses in enumerate(steps, 1):
            f.write(json.dumps(dict(losses, lr=0.001, iter=step,
                                    step=step, epoch=1)) + '\n')
        # A validation record: metrics, no loss.
        f.write(json.dumps({'AUC': 50.0, 'step': 1}) + '\n')


def test_compare_losses_judges_the_first_step_on_parts_without_draws(
        tmp_path):
    compare = load_tool('compare_losses')
    reference = [dict(loss=3.0, loss_tem_start=0.50, loss_pem_cls=0.40,
                      loss_pem_reg=0.30),
                 dict(loss=2.0, loss_tem_start=0.45, loss_pem_cls=0.35,
                      loss_pem_reg=0.25)]
    # bf16-like differences at step 1; the sampled part and step 2 far off.
    close = [dict(loss=3.1, loss_tem_start=0.505, loss_pem_cls=0.398,
                  loss_pem_reg=0.36),
             dict(loss=9.0, loss_tem_start=0.9, loss_pem_cls=0.9,
                  loss_pem_reg=0.9)]
    far = [dict(close[0], loss_pem_cls=0.44), close[1]]
    for name, steps in (('ref', reference), ('close', close), ('far', far)):
        write_run(tmp_path / name, steps)
    assert compare.main([str(tmp_path / 'ref'), str(tmp_path / 'close'),
                         '--rtol', '0.03']) == 0
    result = compare.compare(compare.read_losses(str(tmp_path / 'ref')),
                             compare.read_losses(str(tmp_path / 'far')), 8,
                             0.03)
    assert not result['passed']
    assert result['judged'] == ['loss_pem_cls', 'loss_tem_start']
    assert len(result['rows']) == 8  # 2 steps x 4 parts
    assert compare.main([str(tmp_path / 'ref'),
                         str(tmp_path / 'missing')]) == 2


def test_profile_step_runs_every_part_on_the_cpu(tmp_path):
    """--device cpu --tiny: every part runs (no syncs or graphs there)."""
    out = tmp_path / 'profile.json'
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'analysis',
                                  'profile_step.py'), '--device', 'cpu',
         '--tiny', '--models', 'bmn', '--impls', 'gather', '--batch', '2',
         '--steps', '1', '--warmup', '1', '--profile-steps', '1',
         '--soft-nms-impls', 'torch', '--amp', 'none', '--out', str(out)],
        capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    (run, ) = report['runs']
    assert 'error' not in run, run.get('error')
    assert run['step_ms'] > 0 and run['predict_ms_torch'] > 0
    assert run['profile']['top_cpu'] and run['syncs_per_step'] is None
    assert report['environment']['torch']


@pytest.mark.parametrize('script', ['cuda_check.sh'])
def test_cuda_check_script_is_valid_bash(script):
    proc = subprocess.run(['bash', '-n', osp.join(ROOT, 'tools', 'analysis',
                                                 script)])
    assert proc.returncode == 0
