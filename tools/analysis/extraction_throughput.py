# Copyright (c) rcl_mm contributors. All rights reserved.
"""Feature-extraction throughput (snippets per second) of extractor configs.

Usage::

    python tools/analysis/extraction_throughput.py CONFIG [CONFIG ...] \\
        [--device cpu|cuda] [--num-snippets 64] [--batch-size B] \\
        [--video FILE [--interval 16]] [--checkpoint CKPT] [--threads N]
        [--out FILE.json]

Without ``--video``: the forward passes on random clips of the config's
size (random weights unless ``--checkpoint``; the speed is the same).
With ``--video``: decoding, resizing and forward passes on that file
(e.g. one written by ``rcl_mm.testing.videos.write_test_video``). One
JSON line per config on stdout (``snippets_per_second`` first); docs/
custom_dataset.md keeps measured numbers.
"""
import argparse
import json
import sys

from rcl_mm.apis.feature_extraction import (DEFAULT_INTERVAL,
                                            measure_extraction_throughput)
from rcl_mm.utils.cli import add_debug_argument, run_tool
from rcl_mm.utils.io import atomic_write


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Feature-extraction throughput.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('configs', nargs='+', help='extractor configs')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--checkpoint',
                        help='weights (one config only; default random)')
    parser.add_argument('--num-snippets', type=int, default=64)
    parser.add_argument('--batch-size', type=int,
                        help='clips per forward pass (default: config)')
    parser.add_argument('--video', help='measure on this video file')
    parser.add_argument('--interval', type=int, default=DEFAULT_INTERVAL)
    parser.add_argument('--threads', type=int,
                        help='torch CPU threads (default: torch\'s)')
    parser.add_argument('--out', help='also write the results as JSON')
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    if args.checkpoint and len(args.configs) > 1:
        parser.error('--checkpoint takes one config')
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.threads is not None:
        import torch
        torch.set_num_threads(args.threads)
    results = []
    for config in args.configs:
        result = measure_extraction_throughput(
            config, args.device, args.checkpoint, args.num_snippets,
            args.batch_size, video=args.video, interval=args.interval)
        results.append(result)
        print(json.dumps(result), flush=True)
    if args.out:
        with atomic_write(args.out) as f:
            json.dump(results, f, indent=1)


if __name__ == '__main__':
    sys.exit(run_tool(main))
