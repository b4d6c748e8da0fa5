# Copyright (c) rcl_mm contributors. All rights reserved.
"""Write the THUMOS-like demo: synthetic features on real THUMOS14 timelines.

Usage::

    python tools/data/synthesize_thumos.py [--out-dir data/demo_thumos/data]
        [--num-train 20] [--num-test 10] [--feat-dim 64] [--seed 0]
        [--snippet-stride 5] [--fps 30] [--max-seconds 240]

Writes features/<video>.npy, train_Annotation.csv, test_Annotation.csv,
video_info.json and synthesis_meta.json (see docs/thumos.md and
:mod:`rcl_mm.datasets.thumos_synthetic`).
"""
import argparse
import sys

from rcl_mm.datasets.thumos_synthetic import (THUMOS_DEMO_ANN_DIR,
                                              synthesize_thumos_demo)
from rcl_mm.utils.cli import add_debug_argument, run_tool


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--out-dir', default='data/demo_thumos/data')
    parser.add_argument('--ann-dir', default=THUMOS_DEMO_ANN_DIR,
                        help='folder of val_ and test_Annotation.csv')
    parser.add_argument('--num-train', type=int, default=20,
                        help='validation videos used for training')
    parser.add_argument('--num-test', type=int, default=10)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--feat-dim', type=int, default=64)
    parser.add_argument('--snippet-stride', type=int, default=5,
                        help='frames per snippet')
    parser.add_argument('--fps', type=float, default=30.0)
    parser.add_argument('--margin', type=float, default=10.0,
                        help='seconds after the last annotated end')
    parser.add_argument('--max-seconds', type=float, default=240.0,
                        help='skip longer videos')
    add_debug_argument(parser)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    summary = synthesize_thumos_demo(
        args.out_dir, args.ann_dir, args.num_train, args.num_test,
        seed=args.seed, feat_dim=args.feat_dim,
        snippet_stride=args.snippet_stride, fps=args.fps,
        margin=args.margin, max_seconds=args.max_seconds)
    print(f'{args.out_dir}: {summary["num_train"]} training and '
          f'{summary["num_test"]} test videos, {summary["num_snippets"]} '
          f'snippets in {summary["seconds"]:.1f} s')


if __name__ == '__main__':
    sys.exit(run_tool(main))
