# Copyright (c) rcl_mm contributors. All rights reserved.
"""tools/analysis/eval_detection.py from the command line."""
import json
import os.path as osp
import subprocess
import sys

import pytest
from eval_helpers import ANET_GT, THUMOS_GT, perturbed_results
from official_reference import reference_detection, reference_proposals

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def run(args):
    proc = subprocess.run(
        [sys.executable, 'tools/analysis/eval_detection.py'] + args,
        cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_activitynet_detection_proposals_and_breakdown(anet_database,
                                                       tmp_path):
    res = perturbed_results(anet_database, 'validation', 40, 30, seed=4)
    res['not_in_gt'] = res[next(iter(res))][:3]
    pred = tmp_path / 'pred.json'
    pred.write_text(json.dumps({'version': 'VERSION 1.3', 'results': res,
                                'external_data': {}}))
    out = tmp_path / 'metrics.json'
    proc = run([ANET_GT, str(pred), '--breakdown', '--out', str(out)])
    metrics = json.loads(out.read_text())
    _, mean_ap, average = reference_detection(
        anet_database, res, 'validation', [0.5 + 0.05 * i for i in
                                           range(10)])
    assert metrics['average_mAP'] == pytest.approx(average, abs=1e-15)
    assert metrics['mAP'] == pytest.approx(list(mean_ap), abs=1e-15)
    assert len(metrics['tiou_thresholds']) == 10
    assert set(metrics['breakdown']) == {'coverage', 'length'}
    assert osp.isfile(tmp_path / 'metrics_breakdown.png')
    assert '3 predictions of 1 videos are not in the ground truth' in \
        proc.stderr
    assert f'{100 * average:.2f}' in proc.stdout

    run([ANET_GT, str(pred), '--proposals', '--out', str(out)])
    metrics = json.loads(out.read_text())
    _, avg, _, auc = reference_proposals(anet_database, res, 'validation')
    assert list(metrics) == ['AR@1', 'AR@5', 'AR@10', 'AR@100', 'AUC']
    assert metrics['AR@100'] == avg[99] and metrics['AUC'] == auc


def test_thumos14(tmp_path):
    db = json.load(open(THUMOS_GT))['database']
    res = perturbed_results(db, 'test', 20, 30, seed=5)
    pred = tmp_path / 'pred.json'
    pred.write_text(json.dumps({'results': res}))
    out = tmp_path / 'm.json'
    run([THUMOS_GT, str(pred), '--dataset', 'thumos14', '--out', str(out)])
    metrics = json.loads(out.read_text())
    thresholds = [0.3, 0.4, 0.5, 0.6, 0.7]
    _, mean_ap, average = reference_detection(db, res, 'test', thresholds)
    assert metrics['tiou_thresholds'] == thresholds
    assert metrics['average_mAP'] == average


# Runs the CLI in this interpreter, then prints the heavy modules loaded.
IMPORTS_PROBE = """
import runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name='__main__')
except SystemExit as e:
    assert not e.code, e.code
print('HEAVY', sorted({'torch', 'mmengine', 'rcl_mm'} & set(sys.modules)))
"""


def test_reads_and_writes_without_torch(tmp_path):
    """The CLI loads the numpy evaluation and the atomic writer on their
    own: torch and mmengine (seconds to import) are never imported."""
    db = json.load(open(THUMOS_GT))['database']
    pred = tmp_path / 'pred.json'
    pred.write_text(json.dumps(
        {'results': perturbed_results(db, 'test', 5, 10, seed=6)}))
    out = tmp_path / 'sub' / 'm.json'
    proc = subprocess.run(
        [sys.executable, '-c', IMPORTS_PROBE,
         'tools/analysis/eval_detection.py', THUMOS_GT, str(pred),
         '--dataset', 'thumos14', '--out', str(out)],
        cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'HEAVY []' in proc.stdout
    assert json.loads(out.read_text())['tiou_thresholds'] == [
        0.3, 0.4, 0.5, 0.6, 0.7]
    assert sorted(p.name for p in out.parent.iterdir()) == ['m.json']
