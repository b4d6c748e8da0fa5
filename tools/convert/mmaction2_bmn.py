# Copyright (c) rcl_mm contributors. All rights reserved.
"""Convert an mmaction2 BMN checkpoint into an rcl_mm BMN checkpoint.

Usage: python tools/convert/mmaction2_bmn.py IN.pth OUT.pth
"""
import argparse
import sys

import torch

from rcl_mm.utils.checkpoint import (check_checkpoint_file,
                                     convert_mmaction2_bmn,
                                     save_checkpoint_atomic)
from rcl_mm.utils.cli import add_debug_argument, run_tool
from rcl_mm.utils.compat import mmengine_checkpoint_globals


def parse_args():
    parser = argparse.ArgumentParser(
        description='Convert an mmaction2 BMN checkpoint to rcl_mm.')
    parser.add_argument('src', help='mmaction2 BMN checkpoint (.pth)')
    parser.add_argument('dst', help='where to write the rcl_mm checkpoint')
    add_debug_argument(parser)
    return parser.parse_args()


def main():
    args = parse_args()
    check_checkpoint_file(args.src)
    with mmengine_checkpoint_globals():
        checkpoint = torch.load(args.src, map_location='cpu')
    state_dict = checkpoint.get('state_dict', checkpoint)
    meta = dict(checkpoint.get('meta', {}) or {})
    meta['converted_from'] = dict(
        source='mmaction2 BMN', file=args.src)
    save_checkpoint_atomic(
        dict(meta=meta, state_dict=convert_mmaction2_bmn(state_dict)),
        args.dst)
    print(f'Wrote {args.dst}')


if __name__ == '__main__':
    sys.exit(run_tool(main))
