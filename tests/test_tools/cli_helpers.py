# Copyright (c) rcl_mm contributors. All rights reserved.
"""Shared by the command-line tests: run a tool as a user would."""
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def run(args):
    """Run ``python ARGS`` in the repository root; return its stdout.

    Fails the test with the end of stderr when the tool exits non-zero.
    """
    proc = subprocess.run([sys.executable] + args, cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout
