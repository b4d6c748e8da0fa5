# Copyright (c) rcl_mm contributors. All rights reserved.
"""Test a localizer: detections as the official ActivityNet results JSON.

Usage: python tools/test.py CONFIG CHECKPOINT [--work-dir DIR]
       [--out results.json] [--amp] [--cfg-options k=v ...]
       [--launcher pytorch]
"""
import argparse

from mmengine.config import DictAction
from mmengine.runner import Runner

from rcl_mm.models.localizers.state_dict_check import CheckpointMismatchError
from rcl_mm.utils.launch import end_distributed, prepare_config
from rcl_mm.utils.tables import metrics_table, split_name


def parse_args():
    parser = argparse.ArgumentParser(description='Test a localizer')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where to save logs and results')
    parser.add_argument(
        '--out',
        help='where to write the detections (official ActivityNet results '
        'JSON); defaults to the evaluator\'s dump path in the work dir')
    parser.add_argument(
        '--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser.parse_args()


def _out_for_mmaction2_metric(cfg, out):
    """mmaction2's ANetMetric (mmaction2's own configs) reads the path
    from ``dump_config.out``; ours from ``dump``."""
    if not out:
        return
    evaluators = cfg.test_evaluator
    if not isinstance(evaluators, (list, tuple)):
        evaluators = [evaluators]
    for evaluator in evaluators:
        if 'dump_config' in evaluator:
            evaluator.pop('dump', None)
            evaluator.dump_config.out = out


def main():
    args = parse_args()
    cfg_options = dict(args.cfg_options or {})
    if args.out:
        cfg_options['test_evaluator.dump'] = args.out
    cfg = prepare_config(args.config, args.work_dir, cfg_options,
                         args.launcher)
    _out_for_mmaction2_metric(cfg, args.out)
    cfg.load_from = args.checkpoint
    if args.amp:
        cfg.test_cfg = dict(cfg.get('test_cfg') or {}, fp16=True)
    runner = Runner.from_cfg(cfg)
    try:
        metrics = runner.test()
    except CheckpointMismatchError as e:
        # The model raises without knowing the file: name it.
        raise SystemExit(f'{args.checkpoint}: {e}') from e
    if runner.rank == 0:
        print(metrics_table(
            metrics, title=f'{args.config} | {split_name(cfg)}'))


if __name__ == '__main__':
    main()
    end_distributed()
