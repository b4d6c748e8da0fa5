# Copyright (c) rcl_mm contributors. All rights reserved.
"""Prepare a checkpoint for the model zoo.

Keeps ``meta`` and ``state_dict`` and names the file by its SHA-256:
``python tools/publish_model.py work_dirs/x/epoch_9.pth rcl_bmn_anet``
writes ``rcl_bmn_anet-<sha256[:8]>.pth``.
"""
import argparse
import sys

from rcl_mm.utils.checkpoint import publish_checkpoint
from rcl_mm.utils.cli import add_debug_argument, run_tool


def parse_args():
    parser = argparse.ArgumentParser(
        description='Strip a checkpoint and name it by its hash.')
    parser.add_argument('in_file', help='checkpoint written by the Runner')
    parser.add_argument(
        'out_prefix', help='output path without "-<hash>.pth"')
    add_debug_argument(parser)
    return parser.parse_args()


def main():
    args = parse_args()
    print(publish_checkpoint(args.in_file, args.out_prefix))


if __name__ == '__main__':
    sys.exit(run_tool(main))
