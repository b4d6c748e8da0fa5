# Copyright (c) rcl_mm contributors. All rights reserved.
"""Train a localizer with the mmengine Runner.

Usage: python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]]
       [--amp] [--cfg-options k=v ...] [--launcher pytorch]
"""
import argparse
import sys

import torch
from mmengine.runner import Runner

from rcl_mm.models.localizers.state_dict_check import CheckpointMismatchError
from rcl_mm.utils.checkpoint import check_checkpoint_file
from rcl_mm.utils.cli import UserError, add_debug_argument, run_tool
from rcl_mm.utils.config_check import add_cfg_options_argument
from rcl_mm.utils.launch import (check_train_iterations, end_distributed,
                                 prepare_config)


def parse_args():
    parser = argparse.ArgumentParser(description='Train a localizer')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='where to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from this checkpoint; without a path, from the latest '
        'checkpoint in the work dir')
    parser.add_argument(
        '--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate with the total batch size')
    parser.add_argument(
        '--seed', type=int, default=None, help='random seed')
    parser.add_argument(
        '--deterministic',
        action='store_true',
        help='deterministic algorithms (slower)')
    add_cfg_options_argument(parser)
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    add_debug_argument(parser)
    return parser.parse_args()


def main():
    args = parse_args()
    cfg = prepare_config(args.config, args.work_dir, args.cfg_options,
                         args.launcher)
    if args.amp:
        if not torch.cuda.is_available():
            raise UserError('--amp needs a GPU', '--amp',
                            'mmengine\'s AmpOptimWrapper runs on CUDA only; '
                            'drop --amp on the CPU')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        check_checkpoint_file(args.resume)
        cfg.resume = True
        cfg.load_from = args.resume
    if cfg.get('load_from') and not args.resume:
        check_checkpoint_file(cfg.load_from)
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    if args.seed is not None or args.deterministic:
        randomness = cfg.get('randomness', {})
        if args.seed is not None:
            randomness['seed'] = args.seed
        randomness['deterministic'] = args.deterministic
        cfg.randomness = randomness
    runner = Runner.from_cfg(cfg)
    # Refused before the first step: a split that trains nothing.
    check_train_iterations(runner)
    try:
        runner.train()
    except CheckpointMismatchError as e:
        # The model raises without knowing the file: name it.
        path = cfg.get('load_from') or 'the latest checkpoint of the ' \
            f'work dir {cfg.work_dir}'
        raise CheckpointMismatchError(f'{path}: {e}') from e


if __name__ == '__main__':
    sys.exit(run_tool(main, cleanup=end_distributed))
