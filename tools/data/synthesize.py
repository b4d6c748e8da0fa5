# Copyright (c) rcl_mm contributors. All rights reserved.
"""Write synthetic snippet features for real ActivityNet annotations.

Usage::

    python tools/data/synthesize.py [--ann-file data/demo/anet_anno_demo.json]
        [--out-dir data/demo/features] [--seed 0] [--num-train N]
        [--num-val N] [--snr-range 0.5 5.0] [--distractor-rate 1.0] ...

Writes csv_mean_100/*.csv, npy/*.npy, anet_anno_{train,val}.json,
anet_gt_val.json and synthesis_meta.json; the generative model and every
knob are described in docs/demo_data.md and
:mod:`rcl_mm.datasets.synthetic`.
"""
import argparse
import dataclasses
import sys

from rcl_mm.datasets.synthetic import (DEMO_ANN_FILE, SignalConfig,
                                       synthesize_features)
from rcl_mm.utils.cli import add_debug_argument, run_tool


def parse_args() -> argparse.Namespace:
    """Command-line arguments; one flag per :class:`SignalConfig` field."""
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--ann-file', default=DEMO_ANN_FILE,
                        help='annotations with a subset per video')
    parser.add_argument('--out-dir', default='data/demo/features')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--num-train', type=int, default=None,
                        help='first N training videos by name (all if unset)')
    parser.add_argument('--num-val', type=int, default=None,
                        help='first N validation videos by name')
    parser.add_argument('--temporal-dim', type=int, default=100)
    parser.add_argument('--feat-dim', type=int, default=400)
    parser.add_argument('--formats', nargs='+', default=['csv', 'npy'],
                        choices=['csv', 'npy'])
    parser.add_argument('--decimals', type=int, default=4)
    signal = parser.add_argument_group('generative model')
    for field in dataclasses.fields(SignalConfig):
        pair = isinstance(field.default, tuple)
        signal.add_argument(
            '--' + field.name.replace('_', '-'),
            type=float,
            nargs=2 if pair else None,
            metavar=('LOW', 'HIGH') if pair else None,
            default=field.default,
            help=field.metadata['help'])
    add_debug_argument(parser)
    return parser.parse_args()


def main() -> None:
    """Generate and print a summary."""
    args = parse_args()
    signal = SignalConfig(**{
        field.name: (tuple(value) if isinstance(value, list) else value)
        for field in dataclasses.fields(SignalConfig)
        for value in [getattr(args, field.name)]
    })
    summary = synthesize_features(
        args.ann_file,
        args.out_dir,
        seed=args.seed,
        temporal_dim=args.temporal_dim,
        feat_dim=args.feat_dim,
        num_train=args.num_train,
        num_val=args.num_val,
        formats=args.formats,
        decimals=args.decimals,
        signal=signal)
    print(f'{args.out_dir}: {summary["num_train"]} training and '
          f'{summary["num_val"]} validation videos, {summary["files"]} '
          f'files in {summary["seconds"]:.1f} s')


if __name__ == '__main__':
    sys.exit(run_tool(main))
