# Copyright (c) rcl_mm contributors. All rights reserved.
"""One benchmark measurement in this process; prints ``RESULT <json>``.

Usage (by :func:`rcl_mm.analysis.benchmark.suite.run_worker`):
``python -m rcl_mm.analysis.benchmark.worker JOB``, where JOB is the JSON
of ``{'options': <the benchmark's options>, 'worker': <what to measure>,
'setting': ..., 'scratch': ...}``. One process per measurement, so that
peak memory is the measurement's own.
"""
import argparse
import json
import sys
from typing import Optional

import torch


def run_job(job: dict) -> dict:
    """Apply the options to this process and run the measurement.

    Args:
        job (dict): As in the module's docstring; ``worker`` is a model
            name, ``'pair'``, ``'post'``, ``'op:<case JSON>'`` or
            ``'demo:<model>'`` or ``'extract:<config>'``.

    Returns:
        dict: The measurement's result.
    """
    from . import measure
    args = argparse.Namespace(**job['options'])
    worker, setting, scratch = job['worker'], job['setting'], job['scratch']
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.reuse_freed_memory and torch.device(args.device).type == 'cpu':
        from rcl_mm.utils import reuse_freed_memory
        if not reuse_freed_memory():
            sys.exit('--reuse-freed-memory: not a glibc process')
    if worker.startswith('op:'):
        return measure.measure_op(args, json.loads(worker[len('op:'):]))
    if worker.startswith('demo:'):
        return measure.measure_demo(args, worker[len('demo:'):], scratch)
    if worker.startswith('extract:'):
        return measure.measure_extraction(args, worker[len('extract:'):])
    if worker == 'post':
        return measure.measure_post(args, setting)
    if worker == 'pair':
        return measure.measure_pairs(args, setting)
    return measure.measure_model(args, worker, setting, scratch)


def main(argv: Optional[list] = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.exit('usage: python -m rcl_mm.analysis.benchmark.worker JOB')
    result = run_job(json.loads(argv[0]))
    print('RESULT ' + json.dumps(result), flush=True)


if __name__ == '__main__':
    main()
