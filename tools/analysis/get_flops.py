# Copyright (c) rcl_mm contributors. All rights reserved.
"""Parameters and FLOPs of a model, and FLOPs against RRM iterations.

Usage: python tools/analysis/get_flops.py CONFIG [--iters 0 1 5 10 15]
       [--batch 1] [--cfg-options ...]

FLOPs are multiply-accumulates of one forward pass (``mode='tensor'``) of
one window, counted by :func:`rcl_mm.models.complexity.count_flops` (see
there why not mmengine's jit-based analyzer). For an RCL model the table
gives the FLOPs at each number of RRM iterations relative to 1 iteration
= 100, as the supplement's Table 1.
"""
import argparse
import sys

import torch
from mmengine.registry import DefaultScope

import rcl_mm  # noqa: F401
from rcl_mm.models.complexity import count_flops, parameter_count
from rcl_mm.registry import MODELS
from rcl_mm.utils.cli import add_debug_argument, run_tool
from rcl_mm.utils.config_check import add_cfg_options_argument, load_config


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--iters', type=int, nargs='+',
                        default=[0, 1, 5, 10, 15])
    parser.add_argument('--batch', type=int, default=1)
    add_cfg_options_argument(parser)
    add_debug_argument(parser)
    return parser.parse_args()


def build_model(config, cfg_options=None):
    """The config's model, in eval mode."""
    cfg = load_config(config, cfg_options)
    with DefaultScope.overwrite_default_scope('rcl_mm'):
        return MODELS.build(cfg.model).eval()


def iteration_table(model, inputs, iters_list):
    """FLOPs of the model at each RRM iteration count.

    Returns:
        list[tuple]: ``(iters, flops, relative)`` rows, relative to 1
        iteration = 100 (to the first row if 1 is not in the list).
    """
    default = model.refiner.iters
    flops = {}
    try:
        for iters in iters_list:
            model.refiner.iters = iters
            flops[iters] = count_flops(model, inputs, mode='tensor')['total']
    finally:
        model.refiner.iters = default
    base = flops.get(1, flops[iters_list[0]])
    return [(i, flops[i], 100.0 * flops[i] / base) for i in iters_list]


def main():
    args = parse_args()
    model = build_model(args.config, args.cfg_options)
    backbone = model.backbone
    inputs = torch.randn(args.batch, backbone.feat_dim, backbone.temporal_dim)
    params = parameter_count(model)
    flops = count_flops(model, inputs, mode='tensor')
    lines = [f'{args.config}: input {tuple(inputs.shape)}', '',
             f'{"part":<12}{"params":>14}{"GFLOPs":>12}']
    for name in [n for n in params if n != 'total'] + ['total']:
        lines.append(f'{name:<12}{params[name]:>14,}'
                     f'{flops.get(name, 0) / 1e9:>12.3f}')
    if hasattr(model, 'refiner'):
        lines += ['', f'{"RRM iters":<12}{"GFLOPs":>12}{"relative":>10}']
        for iters, total, rel in iteration_table(model, inputs, args.iters):
            lines.append(f'{iters:<12}{total / 1e9:>12.3f}{rel:>10.1f}')
    print('\n'.join(lines))


if __name__ == '__main__':
    sys.exit(run_tool(main))
