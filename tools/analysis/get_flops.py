# Copyright (c) rcl_mm contributors. All rights reserved.
"""Parameters and FLOPs of a model (fused and dense-equivalent), and FLOPs
against RRM iterations as the supplement's Table 1.

Usage: python tools/analysis/get_flops.py CONFIG [--iters 0 1 5 10 15]
       [--batch 1] [--json PATH] [--cfg-options ...]

FLOPs are multiply-accumulates of one forward pass (``mode='tensor'``) of
one window, counted by :func:`rcl_mm.models.complexity.count_flops` (see
there why not mmengine's jit-based analyzer), twice:

- fused: what runs; BMN's BM layer and 3-D conv as our fused op computes
  them;
- dense-equivalent: the same model with the BM layer and 3-D conv counted
  as mmaction2's dense computation (the sampling-mask product and the 3-D
  conv over the N samples), as papers count BMN-based models.

For an RCL model the iteration table gives both counts at each number of
RRM iterations, and the dense-equivalent one relative to 1 iteration =
100, as the supplement's Table 1 (98.3 / 100 / 106.9 / 115.5 / 124.1 at
0 / 1 / 5 / 10 / 15 iterations). ``--json PATH`` writes everything:
``{"fused": {...}, "dense_equivalent": {...}, "table1": {"0": r0,
"1": 100.0, ...}, ...}``.
"""
import argparse
import json
import sys

import torch
from mmengine.registry import DefaultScope

import rcl_mm  # noqa: F401
from rcl_mm.models.complexity import count_flops_both, parameter_count
from rcl_mm.registry import MODELS
from rcl_mm.utils.cli import add_debug_argument, run_tool
from rcl_mm.utils.config_check import add_cfg_options_argument, load_config

# The supplement's Table 1: relative FLOPs of RCL-BMN on ActivityNet v1.3
# at each number of RRM iterations (1 iteration = 100).
TABLE1 = {0: 98.3, 1: 100.0, 5: 106.9, 10: 115.5, 15: 124.1}
# count_flops's bm_count of each count, by its name in the JSON.
COUNTS = dict(fused='fused', dense_equivalent='dense')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--iters', type=int, nargs='+',
                        default=sorted(TABLE1))
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--json', metavar='PATH',
                        help='write both counts and the table as JSON')
    add_cfg_options_argument(parser)
    add_debug_argument(parser)
    return parser.parse_args(argv)


def build_model(config, cfg_options=None):
    """The config's model, in eval mode."""
    cfg = load_config(config, cfg_options)
    with DefaultScope.overwrite_default_scope('rcl_mm'):
        return MODELS.build(cfg.model).eval()


def iteration_table(model, inputs, iters_list, bm_count='fused'):
    """FLOPs of the model at each RRM iteration count.

    Returns:
        list[tuple]: ``(iters, flops, relative)`` rows, relative to 1
        iteration = 100 (to the first row if 1 is not in the list).
    """
    return _iteration_tables(model, inputs, iters_list)[bm_count]


def _iteration_tables(model, inputs, iters_list):
    """:func:`iteration_table` of both counts (one forward per row), by
    ``bm_count``."""
    default = model.neck.iters
    flops = dict(fused={}, dense={})
    try:
        for iters in iters_list:
            model.neck.iters = iters
            counts = count_flops_both(model, inputs, mode='tensor')
            for key, count in counts.items():
                flops[key][iters] = count['total']
    finally:
        model.neck.iters = default
    tables = {}
    for key, by_iters in flops.items():
        base = by_iters.get(1, by_iters[iters_list[0]])
        tables[key] = [(i, by_iters[i], 100.0 * by_iters[i] / base)
                       for i in iters_list]
    return tables


def complexity_report(model, inputs, iters_list):
    """Both counts of ``model`` on ``inputs``, as ``--json`` writes them.

    Returns:
        dict: ``params`` (per top-level child and total); ``fused`` and
        ``dense_equivalent``, each with ``parts`` (FLOPs per child and
        total at the model's own iterations) and, for a model with a
        neck, ``iters`` (FLOPs by iteration count), ``relative`` (to 1
        iteration = 100) and ``per_iteration`` (FLOPs one more iteration
        adds, between the first and the last row with iterations); for a
        model with a neck, ``table1``: the dense-equivalent
        ``relative``, and ``table1_paper``: the supplement's values.
    """
    report = dict(params=parameter_count(model))
    parts = count_flops_both(model, inputs, mode='tensor')
    has_neck = hasattr(model, 'neck')
    tables = _iteration_tables(model, inputs,
                               iters_list) if has_neck else {}
    for name, bm_count in COUNTS.items():
        count = dict(parts=parts[bm_count])
        if has_neck:
            rows = tables[bm_count]
            count['iters'] = {str(i): flops for i, flops, _ in rows}
            count['relative'] = {str(i): rel for i, _, rel in rows}
            # From the first row that runs the neck: the step from 0
            # iterations also holds its once-per-forward parts.
            running = [row for row in rows if row[0] > 0]
            if len(running) > 1 and running[-1][0] > running[0][0]:
                first, last = running[0], running[-1]
                count['per_iteration'] = (last[1] - first[1]) / (
                    last[0] - first[0])
        report[name] = count
    if has_neck:
        report['table1'] = dict(report['dense_equivalent']['relative'])
        report['table1_paper'] = {str(i): TABLE1[i] for i in iters_list
                                  if i in TABLE1}
    return report


def format_report(config, inputs, report):
    """The printed tables, one string."""
    params = report['params']
    fused = report['fused']
    dense = report['dense_equivalent']
    lines = [f'{config}: input {tuple(inputs.shape)}; GFLOPs are '
             'multiply-accumulates', '',
             f'{"part":<12}{"params":>14}{"GFLOPs":>12}{"dense-eq.":>12}']
    for name in [n for n in params if n != 'total'] + ['total']:
        lines.append(f'{name:<12}{params[name]:>14,}'
                     f'{fused["parts"].get(name, 0) / 1e9:>12.3f}'
                     f'{dense["parts"].get(name, 0) / 1e9:>12.3f}')
    if 'table1' in report:
        lines += ['', f'{"RRM iters":<10}{"GFLOPs":>10}{"dense-eq.":>11}'
                  f'{"relative":>10}{"Table 1":>9}']
        for key, rel in report['table1'].items():
            paper = report['table1_paper'].get(key)
            lines.append(
                f'{key:<10}{fused["iters"][key] / 1e9:>10.3f}'
                f'{dense["iters"][key] / 1e9:>11.3f}{rel:>10.1f}'
                f'{"-" if paper is None else format(paper, ".1f"):>9}')
        if 'per_iteration' in dense:
            base = dense['iters'].get('1')
            share = '' if base is None else (
                f', {100.0 * dense["per_iteration"] / base:.2f}% of the '
                'dense-equivalent model at 1 iteration')
            lines.append(f'one more RRM iteration: '
                         f'{dense["per_iteration"] / 1e9:.3f} GFLOPs' +
                         share)
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    model = build_model(args.config, args.cfg_options)
    backbone = model.backbone
    inputs = torch.randn(args.batch, backbone.feat_dim, backbone.temporal_dim)
    report = complexity_report(model, inputs, args.iters)
    print(format_report(args.config, inputs, report))
    if args.json:
        from rcl_mm.utils.io import atomic_write
        report = dict(config=args.config, input_shape=list(inputs.shape),
                      unit='multiply-accumulates', **report)
        with atomic_write(args.json) as f:
            json.dump(report, f, indent=2)
    return report


if __name__ == '__main__':
    # main returns the report (for callers); the exit status is run_tool's.
    sys.exit(run_tool(lambda: main() and None))
