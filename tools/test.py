# Copyright (c) rcl_mm contributors. All rights reserved.
"""Test a localizer: detections as the official ActivityNet results JSON.

Usage: python tools/test.py CONFIG CHECKPOINT [--work-dir DIR]
       [--out results.json] [--amp] [--cfg-options k=v ...]
       [--launcher pytorch]
"""
import argparse
import os.path as osp
import sys

from mmengine.runner import Runner

from rcl_mm.models.localizers.state_dict_check import CheckpointMismatchError
from rcl_mm.utils.checkpoint import check_checkpoint_file
from rcl_mm.utils.cli import add_debug_argument, run_tool
from rcl_mm.utils.config_check import add_cfg_options_argument
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
        'JSON), relative to the current directory; defaults to the '
        'evaluator\'s dump path in the work dir')
    parser.add_argument(
        '--amp', action='store_true', help='automatic mixed precision')
    add_cfg_options_argument(parser)
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    add_debug_argument(parser)
    return parser.parse_args()


def _set_out(cfg, out):
    """Write the detections to ``out``: ``dump`` of our TADMetric,
    ``dump_config.out`` of mmaction2's ANetMetric (mmaction2's own
    configs). ``out`` is absolute here, so it is not put under the work
    dir."""
    if not out:
        return
    evaluators = cfg.test_evaluator
    if not isinstance(evaluators, (list, tuple)):
        evaluators = [evaluators]
    for evaluator in evaluators:
        if 'dump_config' in evaluator:
            evaluator.pop('dump', None)
            evaluator.dump_config.out = out
        else:
            evaluator['dump'] = out


def main():
    args = parse_args()
    check_checkpoint_file(args.checkpoint)
    cfg = prepare_config(args.config, args.work_dir, args.cfg_options,
                         args.launcher)
    # Relative to where the user stands, not to the work dir.
    _set_out(cfg, osp.abspath(args.out) if args.out else None)
    cfg.load_from = args.checkpoint
    if args.amp:
        cfg.test_cfg = dict(cfg.get('test_cfg') or {}, fp16=True)
    runner = Runner.from_cfg(cfg)
    try:
        metrics = runner.test()
    except CheckpointMismatchError as e:
        # The model raises without knowing the file: name it.
        raise CheckpointMismatchError(f'{args.checkpoint}: {e}') from e
    if runner.rank == 0:
        print(metrics_table(
            metrics, title=f'{args.config} | {split_name(cfg)}'))


if __name__ == '__main__':
    sys.exit(run_tool(main, cleanup=end_distributed))
