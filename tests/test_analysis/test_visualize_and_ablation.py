# Copyright (c) rcl_mm contributors. All rights reserved.
"""visualize.py's plots of one video; ablation.py's table."""
import json
import os.path as osp

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
