# Copyright (c) rcl_mm contributors. All rights reserved.
"""Benchmark suite: speed and memory of mmaction2's BMN and our models.

The command line of :mod:`rcl_mm.analysis.benchmark`, whose docstring says
what each part measures (train, pair, infer, post, op, eval, demo,
extract); docs/benchmark.md holds the numbers and how they were taken.

Usage: python tools/analysis/benchmark.py [--parts train,infer,post]
       [--models bmn,rcl_bmn] [--settings anet] [--device cpu|cuda]
       [--amp bf16] [--threads 2] [--steps 3] [--warmup 1]
       [--out benchmark.json]
"""
import argparse
import os.path as osp
import shlex
import sys

from rcl_mm.analysis.benchmark import (DEFAULT_GT, MODELS, PARTS, ROOT,
                                       SETTINGS, run_suite)
from rcl_mm.utils.cli import add_debug_argument, run_tool


def parse_args(argv=None):
    """The options; ``--tiny`` lowers the sizes it names."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--parts', default=','.join(PARTS),
        help=f'comma-separated subset of {",".join(PARTS)}')
    parser.add_argument(
        '--models', default=','.join(MODELS),
        help=f'comma-separated subset of {",".join(MODELS)}')
    parser.add_argument('--settings', default='anet,thumos',
                        help='comma-separated subset of anet,thumos')
    parser.add_argument('--device', default='cpu', help='cpu, cuda, cuda:1')
    parser.add_argument(
        '--amp', choices=['none', 'bf16', 'fp16'], default='none',
        help='autocast dtype for forward and loss')
    parser.add_argument('--threads', type=int,
                        help='torch threads per process (default: torch)')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--steps', type=int, default=3,
                        help='timed repetitions (mean is reported)')
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--pair-rounds', type=int, default=9,
                        help='rounds of alternated steps in the pair part')
    parser.add_argument(
        '--mmaction2-steps', type=int,
        help='cap on the timed steps of mmaction2\'s BMN (slow on CPU)')
    parser.add_argument(
        '--mmaction2-thumos', action='store_true',
        help='also run mmaction2\'s BMN at the THUMOS setting; off by '
        'default: its map is T x T = 256 x 256 whatever D, its batch-8 '
        'training step needs tens of GiB')
    parser.add_argument('--temporal-dim', type=int, help='override T')
    parser.add_argument('--duration-dim', type=int, help='override D')
    parser.add_argument('--feat-dim', type=int, help='override the input '
                        'width')
    parser.add_argument(
        '--tiny', action='store_true',
        help='tiny T, D, width, batch 2 and small eval / post / demo '
        'sizes: checks that every part runs, in seconds')
    parser.add_argument('--post-batches', type=int, default=20,
                        help='maps per kind in the post part')
    parser.add_argument(
        '--soft-nms-impl', choices=['auto', 'torch', 'triton'],
        default='auto',
        help="Soft-NMS of our models and post part: 'triton' runs the "
        "whole pick loop as one kernel (CUDA); 'auto' (the models' "
        "default) takes it on CUDA where Triton imports, 'torch' elsewhere")
    parser.add_argument(
        '--reuse-freed-memory', action='store_true',
        help='on the CPU, every worker keeps freed memory for reuse '
        '(rcl_mm.utils.reuse_freed_memory, as ReuseFreedMemoryHook does '
        'in training); off: glibc\'s defaults')
    parser.add_argument('--gt', default=DEFAULT_GT,
                        help='official ActivityNet ground truth (eval)')
    parser.add_argument('--eval-videos', type=int,
                        help='validation videos in the eval part (all)')
    parser.add_argument('--eval-per-video', type=int, default=100)
    parser.add_argument('--eval-repeats', type=int, default=3,
                        help='runs of our evaluation (median reported)')
    parser.add_argument('--demo-videos', type=int,
                        help='first N demo validation videos (all 80)')
    parser.add_argument(
        '--demo-checkpoint', action='append', default=[],
        metavar='MODEL=PATH', help='checkpoint for a demo model, e.g. '
        'bmn=work_dirs/bmn_demo/epoch_6.pth (default: seeded weights)')
    parser.add_argument(
        '--extract-snippets', type=int, default=256,
        help='snippets per extractor config in the extract part (at '
        'least one batch)')
    parser.add_argument('--out', help='write everything as JSON here')
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    for name, allowed in (('parts', PARTS), ('models', MODELS),
                          ('settings', tuple(SETTINGS))):
        values = [v for v in getattr(args, name).split(',') if v]
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            parser.error(f'--{name}: unknown {unknown}; choose from '
                         f'{",".join(allowed)}')
        setattr(args, name, values)
    if args.tiny:
        args.batch = min(args.batch, 2)
        args.post_batches = min(args.post_batches, 3)
        args.eval_videos = args.eval_videos or 40
        args.eval_per_video = min(args.eval_per_video, 10)
        args.eval_repeats = 1
        args.demo_videos = args.demo_videos or 4
        args.extract_snippets = min(args.extract_snippets, 8)
    return args


def main(argv=None):
    """Run the suite; returns the report (also written to ``--out``)."""
    args = parse_args(argv)
    command = ' '.join(shlex.quote(a) for a in (
        sys.argv if argv is None else
        [osp.relpath(osp.abspath(__file__), ROOT)] + list(argv)))
    return run_suite(args, command)


def _run():
    report = main()
    return 1 if report and report['failures'] else 0


if __name__ == '__main__':
    sys.exit(run_tool(_run))
