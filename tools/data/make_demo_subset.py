# Copyright (c) rcl_mm contributors. All rights reserved.
"""Make data/demo/anet_anno_demo.json from the real ActivityNet annotations.

Usage::

    python tools/data/make_demo_subset.py \\
        --ann-file anet_anno_action.json --video-info video_info_new.csv \\
        --out data/demo/anet_anno_demo.json

Both inputs are BSN's (wzmsltw/BSN-boundary-sensitive-network,
data/activitynet_annotations/). The choice is deterministic; see
:func:`rcl_mm.datasets.select_demo_subset`.
"""
import argparse
import sys
from collections import Counter

from rcl_mm.datasets.anet_annotations import (atomic_write, dumps_by_video,
                                              load_json_strict)
from rcl_mm.datasets.demo_subset import (read_video_subsets,
                                         select_demo_subset)
from rcl_mm.utils.cli import add_debug_argument, run_tool


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--ann-file', required=True,
                        help="BSN's anet_anno_action.json")
    parser.add_argument('--video-info', required=True,
                        help="BSN's video_info_new.csv (subset per video)")
    parser.add_argument('--out', default='data/demo/anet_anno_demo.json')
    parser.add_argument('--num-train', type=int, default=240)
    parser.add_argument('--num-val', type=int, default=80)
    parser.add_argument('--num-classes', type=int, default=20)
    add_debug_argument(parser)
    return parser.parse_args()


def main() -> None:
    """Select the subset and write it."""
    args = parse_args()
    subset = select_demo_subset(
        load_json_strict(args.ann_file),
        read_video_subsets(args.video_info),
        num_train=args.num_train,
        num_val=args.num_val,
        num_classes=args.num_classes)
    with atomic_write(args.out) as f:
        f.write(dumps_by_video(subset))
    counts = Counter(info['subset'] for info in subset.values())
    print(f'{args.out}: {dict(counts)} videos')


if __name__ == '__main__':
    sys.exit(run_tool(main))
