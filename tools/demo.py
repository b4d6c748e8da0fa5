# Copyright (c) rcl_mm contributors. All rights reserved.
"""The demo: synthesize features for real ActivityNet segments, train and
test the demo configs on them, print the metrics, plot a timeline.

Usage: python tools/demo.py [--data-dir data/demo/features]
       [--work-dir work_dirs/demo] [--configs configs/demo/bmn_demo.py ...]
"""
import argparse
import json
import os.path as osp
import sys
import time

from mmengine.runner import Runner

from rcl_mm.datasets.synthetic import synthesize_demo_dataset
from rcl_mm.utils.cli import add_debug_argument, run_tool
from rcl_mm.utils.config_check import load_config
from rcl_mm.utils.launch import evaluator_results_file, prepare_config
from rcl_mm.utils.tables import metrics_table, split_name
from rcl_mm.visualization import plot_timeline

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# The BMN baseline, then RCL-BMN (CAR head + RRM) on the same data.
DEMO_CONFIGS = [
    'configs/demo/bmn_demo.py', 'configs/demo/rcl_bmn_demo.py'
]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-dir', default='data/demo/features')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--configs', nargs='+', default=DEMO_CONFIGS)
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the synthetic features')
    add_debug_argument(parser)
    return parser.parse_args()


def run_config(config, data_dir, work_dir):
    """Train and test one config; return its metrics and results file."""
    name = osp.splitext(osp.basename(config))[0]
    cfg = prepare_config(
        osp.join(ROOT, config),
        work_dir=osp.join(work_dir, name),
        cfg_options={
            'train_dataloader.dataset.ann_file':
            osp.join(data_dir, 'anet_anno_train.json'),
            'train_dataloader.dataset.data_prefix.video':
            osp.join(data_dir, 'csv_mean_100'),
            'val_dataloader.dataset.ann_file':
            osp.join(data_dir, 'anet_anno_val.json'),
            'val_dataloader.dataset.data_prefix.video':
            osp.join(data_dir, 'csv_mean_100'),
            'test_dataloader.dataset.ann_file':
            osp.join(data_dir, 'anet_anno_val.json'),
            'test_dataloader.dataset.data_prefix.video':
            osp.join(data_dir, 'csv_mean_100'),
        })
    runner = Runner.from_cfg(cfg)
    tic = time.time()
    runner.train()
    train_s = time.time() - tic
    tic = time.time()
    metrics = runner.test()
    test_s = time.time() - tic
    title = (f'{name} | {split_name(cfg)} '
             f'({len(runner.test_dataloader.dataset)} videos)')
    return dict(name=name, metrics=metrics, title=title,
                results=evaluator_results_file(cfg), train_s=train_s,
                test_s=test_s)


def plot_best_video(results_file, data_dir, out_file, model):
    """Timeline of the validation video with the most ground truth."""
    with open(results_file) as f:
        results = json.load(f)['results']
    with open(osp.join(data_dir, 'anet_anno_val.json')) as f:
        annotations = json.load(f)
    name = max(annotations,
               key=lambda v: (len(annotations[v]['annotations']), v))
    info = annotations[name]
    detections = [[*d['segment'], d['score']]
                  for d in results.get(name[2:], [])]
    plot_timeline(
        out_file,
        duration=info['duration_second'],
        gt_segments=[a['segment'] for a in info['annotations']],
        gt_labels=[a['label'] for a in info['annotations']],
        detections=detections,
        model=model,
        video=name)
    return out_file


def main():
    args = parse_args()
    data_dir = osp.join(ROOT, args.data_dir)
    work_dir = osp.join(ROOT, args.work_dir)
    for config in args.configs:  # a bad config stops before any work
        load_config(osp.join(ROOT, config))
    synthesize_demo_dataset(data_dir, seed=args.seed)
    reports = []
    for config in args.configs:
        run = run_config(config, data_dir, work_dir)
        plot = plot_best_video(run['results'], data_dir,
                               osp.join(work_dir, run['name'],
                                        'timeline.png'), run['name'])
        reports.append('\n'.join([
            metrics_table(run['metrics'], title=run['title']),
            f'training: {run["train_s"]:.0f} s, test: {run["test_s"]:.0f} s',
            f'results:  {osp.relpath(run["results"])}',
            f'timeline: {osp.relpath(plot)}'
        ]))
    print('\n\n'.join(reports))


if __name__ == '__main__':
    sys.exit(run_tool(main))
