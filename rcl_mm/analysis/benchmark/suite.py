# Copyright (c) rcl_mm contributors. All rights reserved.
"""The benchmark run: every measurement in a fresh worker process, the
report saved after each (a run stopped from outside keeps what it
measured), then ratios, verdicts and tables."""
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from typing import Callable, List, Optional

import torch

from .config import (DEMO_CONFIGS, EXTRACT_CONFIGS, PAIRS, ROOT,
                     setting_params)
from .evaluation import run_eval
from .measure import demo_missing, op_cases, output_errors
from .report import derive, format_tables, summary_lines
from .timing import machine_info


def worker_command(args, worker: str, setting: Optional[str],
                   scratch: Optional[str]) -> List[str]:
    """The command line of one worker: ``python -m
    rcl_mm.analysis.benchmark.worker JOB``, the job as JSON (the options,
    the measurement, its setting and scratch folder)."""
    job = dict(options=vars(args), worker=worker, setting=setting,
               scratch=scratch)
    return [sys.executable, '-m', 'rcl_mm.analysis.benchmark.worker',
            json.dumps(job)]


def run_worker(args, worker: str, setting: Optional[str],
               scratch: Optional[str], failures: List[dict]
               ) -> Optional[dict]:
    """Run one measurement in a fresh process; return its RESULT dict,
    or None after appending what went wrong to ``failures`` (a worker
    killed for memory must not lose the rest of a long run).

    Args:
        args (argparse.Namespace): The options.
        worker (str): A model name, ``'pair'``, ``'post'``,
            ``'op:<case JSON>'``, ``'demo:<model>'`` or
            ``'extract:<config>'``.
        setting (str, optional): A key of ``SETTINGS`` (not for demo).
        scratch (str, optional): A folder for the worker's files.
        failures (list[dict]): Where a failure is recorded.
    """
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [ROOT] + [p for p in [env.get('PYTHONPATH')] if p])
    if args.threads:
        env['OMP_NUM_THREADS'] = str(args.threads)
    if torch.device(args.device).type == 'cpu':
        # The Runner (demo part) would otherwise take a visible GPU.
        env['CUDA_VISIBLE_DEVICES'] = ''
    where = f' ({setting})' if setting else ''
    print(f'running {worker}{where} ...', flush=True)
    proc = subprocess.run(worker_command(args, worker, setting, scratch),
                          capture_output=True, text=True, env=env, cwd=ROOT)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith('RESULT ')]
    if proc.returncode != 0 or not lines:
        # -9: killed, usually for memory.
        message = (f'{worker} ({setting}) failed (exit {proc.returncode}):'
                   f'\n{proc.stderr[-3000:]}')
        print(message, file=sys.stderr, flush=True)
        failures.append(dict(worker=worker, setting=setting,
                             exit=proc.returncode,
                             stderr=proc.stderr[-3000:]))
        return None
    result = json.loads(lines[-1][len('RESULT '):])
    # Shown at once, so that a run stopped from outside (a time limit)
    # still has the numbers of every worker that finished.
    print(f'result {worker}{where}: ' + json.dumps(result), flush=True)
    return result


def new_report(args, command: str) -> dict:
    """The report before any measurement: the command, date, machine,
    options and settings; every part's entry empty."""
    device = torch.device(args.device)
    return dict(
        command=command,
        date=datetime.now(timezone.utc).isoformat(timespec='seconds'),
        machine=dict(machine_info(device),
                     torch_threads=args.threads or torch.get_num_threads()),
        options=dict(vars(args)),
        settings={s: setting_params(args, s) for s in args.settings},
        models=[], paired={}, post_processing={}, car_align=[],
        evaluation=None, demo=[], extraction=[], failures=[],
        partial=True)


def _model_rows(args, setting: str, params: dict, report: dict,
                scratch: str, save: Callable[[], None]) -> None:
    """The ``train`` / ``infer`` rows of a setting, and how far our BMN's
    outputs are from mmaction2's where both ran on one grid."""
    rows = report['models']
    same_grid = params['duration_dim'] == params['temporal_dim']
    for model in args.models:
        if model == 'mmaction2' and setting == 'thumos' and \
                not args.mmaction2_thumos:
            print('mmaction2 (thumos): not run; --mmaction2-thumos runs it')
            continue
        # Outputs are compared where both BMNs have one grid.
        compare = (same_grid and model in ('mmaction2', 'bmn')
                   and {'mmaction2', 'bmn'} <= set(args.models))
        row = run_worker(args, model, setting, scratch if compare else None,
                         report['failures'])
        if row is not None:
            rows.append(row)
            save()
    if all(osp.isfile(osp.join(scratch, f'{m}.pt'))
           for m in ('mmaction2', 'bmn')):
        errors = output_errors(scratch)
        for row in rows:
            if row['setting'] == setting and row['model'] == 'bmn':
                row['max_relative_error'] = errors
                row['equal_outputs'] = max(errors.values()) < 1e-5


def _setting_parts(args, setting: str, report: dict, scratch: str,
                   save: Callable[[], None]) -> None:
    """The parts measured per setting: train / infer, pair, post, op."""
    params = setting_params(args, setting)
    failures = report['failures']
    if {'train', 'infer'} & set(args.parts):
        _model_rows(args, setting, params, report, scratch, save)
    if 'pair' in args.parts and any(
            set(pair) <= set(args.models) for pair in PAIRS):
        result = run_worker(args, 'pair', setting, None, failures)
        if result is not None:
            report['paired'][setting] = result['pairs']
            save()
    if 'post' in args.parts:
        result = run_worker(args, 'post', setting, None, failures)
        if result is not None:
            report['post_processing'][setting] = result
            save()
    if 'op' in args.parts:
        for case in op_cases(args, params):
            result = run_worker(args, 'op:' + json.dumps(case), setting,
                                None, failures)
            if result is not None:
                report['car_align'].append(dict(result, setting=setting))
                save()


def _demo_part(args, report: dict, scratch: str,
               save: Callable[[], None]) -> None:
    """The Runner's test loop of each demo model, or why it cannot run."""
    missing = demo_missing()
    if missing:
        print(f'demo: skipped, {missing}')
        report['demo'] = [dict(skipped=missing)]
        return
    for model in args.models:
        if model in DEMO_CONFIGS:
            result = run_worker(args, 'demo:' + model, None, scratch,
                                report['failures'])
            if result is not None:
                report['demo'].append(result)
                save()


def _extract_part(args, report: dict, save: Callable[[], None]) -> None:
    """Snippets per second of each extractor config of the device type
    (``EXTRACT_CONFIGS``), one worker each."""
    for config in EXTRACT_CONFIGS[torch.device(args.device).type]:
        result = run_worker(args, 'extract:' + config, None, None,
                            report['failures'])
        if result is not None:
            report['extraction'].append(result)
            save()


def run_suite(args, command: str) -> dict:
    """Run the parts of ``args.parts``; print the tables and verdicts.

    Args:
        args (argparse.Namespace): The options of
            ``tools/analysis/benchmark.py``.
        command (str): The command line, recorded in the report.

    Returns:
        dict: The report (also written to ``args.out`` after every
        measurement, ``partial`` until the end).
    """
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        sys.exit('--device cuda: no CUDA device is available here')
    report = new_report(args, command)

    def save(partial: bool = True) -> None:
        report['partial'] = partial
        if args.out:
            from rcl_mm.utils.io import atomic_write
            with atomic_write(args.out) as f:
                json.dump(report, f, indent=2)

    with tempfile.TemporaryDirectory(prefix='rcl_mm_benchmark_') as scratch:
        for setting in args.settings:
            _setting_parts(args, setting, report, scratch, save)
        if 'eval' in args.parts:
            report['evaluation'] = run_eval(args, scratch)
            save()
        if 'demo' in args.parts:
            _demo_part(args, report, scratch, save)
        if 'extract' in args.parts:
            _extract_part(args, report, save)
    verdicts = derive(report['models'], report['post_processing'],
                      device.type, report['paired'])
    demo_rows = [d for d in report['demo'] if 'skipped' not in d]
    print(format_tables(report['models'], report['post_processing'],
                        report['car_align'], report['evaluation'], demo_rows,
                        args.batch, report['paired'],
                        report['extraction']))
    report['targets'] = verdicts
    print('\n'.join(summary_lines(report)))
    save(partial=False)
    return report
