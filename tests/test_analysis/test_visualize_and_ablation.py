# Copyright (c) rcl_mm contributors. All rights reserved.
"""visualize.py's plots of one video; ablation.py's table."""
import json
import os
import os.path as osp
import re

import torch
from mmaction.structures import ActionDataSample
from mmengine.structures import InstanceData

from rcl_mm.models import RCLLocalizer
from rcl_mm.visualization import plot_confidence_map

from analysis_tools import load_tool

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PNG = b'\x89PNG\r\n\x1a\n'


def test_plot_confidence_map(tmp_path):
    path = str(tmp_path / 'map.png')
    valid = torch.ones(4, 6).triu().numpy()
    plot_confidence_map(path, torch.rand(2, 4, 6).numpy(),
                        torch.rand(4, 6).numpy(), valid, title='x')
    with open(path, 'rb') as f:
        assert f.read(8) == PNG


def test_visualize_video_writes_every_iteration(tmp_path):
    tool = load_tool('visualize')
    torch.manual_seed(0)
    model = RCLLocalizer(
        backbone=dict(type='BMNBackbone', feat_dim=8, temporal_dim=10,
                      num_samples=4, hidden_dim_1d=8, hidden_dim_3d=8),
        head=dict(type='RCLHead', in_channels=8, hidden_channels=4),
        neck=dict(type='RRMRefiner', in_channels=4, hdim=4, cdim=2,
                     stride=2, iters=3),
        test_cfg=dict(top_k=5)).eval()
    sample = ActionDataSample()
    sample.gt_instances = InstanceData(gt_bbox=torch.tensor([[0.2, 0.6]]))
    sample.set_metainfo(
        dict(video_name='v_x', duration_second=50.0,
             annotations=[dict(segment=[10.0, 30.0], label='a')]))
    files = tool.visualize_video(model, torch.randn(8, 10), sample,
                                 str(tmp_path))
    names = [osp.basename(f) for f in files]
    assert names == [f'v_x_iter{t}.png' for t in range(4)] + [
        'v_x_timeline.png'
    ]
    for path in files:
        with open(path, 'rb') as f:
            assert f.read(8) == PNG


def test_ablation_summary_mean_and_std(tmp_path):
    tool = load_tool('ablation')
    for seed, value in zip((0, 1, 2), (10.0, 12.0, 14.0)):
        run_dir = tmp_path / 'rcl' / f'seed{seed}'
        run_dir.mkdir(parents=True)
        (run_dir / 'result.json').write_text(json.dumps({
            'average_mAP': value, 'mAP@0.50': 2 * value,
            'mAP@0.75': value / 2, 'seconds': 60.0}))
    table = tool.summarize(['rcl', 'bmn'], [0, 1, 2], str(tmp_path))
    lines = table.splitlines()
    # Sample standard deviation (ddof 1) of 10, 12, 14 is 2.
    assert lines[2] == ('| rcl | 3 | 12.00 ± 2.00 | 24.00 ± 4.00 | '
                        '6.00 ± 1.00 | 60 |')
    assert lines[3] == '| bmn | 0 | - | - | - | - |'
    assert lines[4:7] == ['', 'Per seed (average mAP):', '']
    assert lines[7:] == [
        '| variant | seed 0 | seed 1 | seed 2 | mAP@0.95 (mean) |',
        '|---|---|---|---|---|',
        # mAP@0.95 of no run: '-'.
        '| rcl | 10.00 | 12.00 | 14.00 | - |',
        '| bmn | - | - | - | - |',
    ]


def test_ablation_per_seed_table_with_a_missing_seed(tmp_path):
    tool = load_tool('ablation')
    for seed, value in ((0, 30.0), (2, 34.5)):
        run_dir = tmp_path / 'bmn' / f'seed{seed}'
        run_dir.mkdir(parents=True)
        (run_dir / 'result.json').write_text(json.dumps({
            'average_mAP': value, 'mAP@0.50': value, 'mAP@0.75': value,
            'mAP@0.95': value / 3, 'seconds': 10.0 * (seed + 1)}))
    lines = tool.summarize(['bmn'], [0, 1, 2], str(tmp_path)).splitlines()
    # std of 30 and 34.5 (ddof 1): 4.5 / sqrt(2) = 3.18; seconds 10, 30.
    assert lines[2] == ('| bmn | 2 | 32.25 ± 3.18 | 32.25 ± 3.18 | '
                        '32.25 ± 3.18 | 20 |')
    # mAP@0.95 mean of 10 and 11.5.
    assert lines[-1] == '| bmn | 30.00 | - | 34.50 | 10.75 |'
    # One seed: no standard deviation.
    lines = tool.summarize(['bmn'], [2], str(tmp_path)).splitlines()
    assert lines[2] == '| bmn | 1 | 34.50 | 34.50 | 34.50 | 30 |'


def test_export_results_copies_only_the_result_files(tmp_path):
    tool = load_tool('ablation')
    work_dir = tmp_path / 'work'
    run_dir = work_dir / 'bmn' / 'seed1'
    run_dir.mkdir(parents=True)
    result = {'average_mAP': 1.5, 'mAP@0.50': 2.0, 'mAP@0.75': 1.0,
              'seconds': 3.0}
    (run_dir / 'result.json').write_text(json.dumps(result))
    (run_dir / 'final.pth').write_bytes(b'weights')
    (work_dir / 'bmn' / 'seed0').mkdir()  # unfinished: no result.json
    out_dir = tmp_path / 'out'
    written = tool.export_results(['bmn', 'rcl_supp'], [0, 1, 2],
                                  str(work_dir), str(out_dir))
    assert written == [str(out_dir / 'bmn' / 'seed1' / 'result.json')]
    assert sorted(p.relative_to(out_dir).as_posix()
                  for p in out_dir.rglob('*')) == [
                      'bmn', 'bmn/seed1', 'bmn/seed1/result.json']
    assert json.loads((out_dir / 'bmn' / 'seed1' /
                       'result.json').read_text()) == result
    # The copy summarises as the work dir does.
    assert tool.summarize(['bmn'], [0, 1, 2], str(out_dir)) == \
        tool.summarize(['bmn'], [0, 1, 2], str(work_dir))


def test_class_agnostic_map_perfect_and_half(tmp_path):
    tool = load_tool('ablation')
    ann = {
        'v_a': dict(duration_second=100.0, annotations=[
            dict(segment=[10.0, 30.0], label='x')]),
        'v_b': dict(duration_second=100.0, annotations=[
            dict(segment=[50.0, 90.0], label='y')]),
    }
    ann_file = tmp_path / 'ann.json'
    ann_file.write_text(json.dumps(ann))
    results = {'results': {
        'a': [dict(segment=[10.0, 30.0], score=0.9)],
        # tIoU 0.75 with [50, 90]: a hit at 0.5 .. 0.75, a miss above.
        'b': [dict(segment=[50.0, 80.0], score=0.8)],
    }}
    results_file = tmp_path / 'results.json'
    results_file.write_text(json.dumps(results))
    metrics = tool.class_agnostic_map(str(results_file), str(ann_file),
                                      str(tmp_path))
    assert metrics['mAP@0.50'] == 100.0
    assert metrics['mAP@0.75'] == 100.0
    # Above 0.75 only 'a' is found (recall 1/2 at precision 1): AP 50.
    assert metrics['mAP@0.80'] == 50.0
    expected = (6 * 100.0 + 4 * 50.0) / 10
    assert abs(metrics['average_mAP'] - expected) < 1e-9


def test_docs_ablation_tables_are_the_committed_results():
    """docs/ablation.md's results are summarize() of the result files
    kept in docs/ablation/results (copied there by --export-results)."""
    tool = load_tool('ablation')
    results = osp.join(ROOT, 'docs', 'ablation', 'results')
    variants = [v for v in tool.DEFAULT_ORDER
                if osp.isdir(osp.join(results, v))]
    # Every kept folder is a variant of the tool (none renamed since).
    assert sorted(os.listdir(results)) == sorted(variants)
    with open(osp.join(ROOT, 'docs', 'ablation.md'), encoding='utf-8') as f:
        doc = f.read()
    block = re.search(
        r'<!-- results: begin [^>]*-->\n\n(.*?)\n\n<!-- results: end -->',
        doc, re.S)
    assert block is not None
    assert block.group(1) == tool.summarize(variants, [0, 1, 2], results)
