# Copyright (c) rcl_mm contributors. All rights reserved.
"""Evaluate a results JSON: detection mAP or AR@AN, as the official
ActivityNet code computes them.

Usage:
    python tools/analysis/eval_detection.py GT PRED
        [--dataset activitynet|thumos14] [--subset validation]
        [--proposals] [--breakdown] [--out metrics.json]

GT: the official ActivityNet layout (also G-TAD's THUMOS14 file) or
mmaction2's annotation layout. PRED: the official results JSON. The
evaluation functions are loaded without importing torch or mmengine, so the
whole run takes seconds.
"""
import argparse
import importlib.util
import os.path as osp
import sys
import warnings

from terminaltables import AsciiTable


def _package_dir():
    spec = importlib.util.find_spec('rcl_mm')
    if spec is None or not spec.submodule_search_locations:
        root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
        return osp.join(root, 'rcl_mm')
    return list(spec.submodule_search_locations)[0]


def _cli():
    """rcl_mm.utils.cli (standard library only), without importing
    rcl_mm."""
    if 'rcl_mm' in sys.modules:
        from rcl_mm.utils import cli
        return cli
    name = 'rcl_mm_utils_cli'
    spec = importlib.util.spec_from_file_location(
        name, osp.join(_package_dir(), 'utils', 'cli.py'))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _functional():
    """rcl_mm.evaluation.functional, without importing rcl_mm (torch...)."""
    if 'rcl_mm' in sys.modules:
        from rcl_mm.evaluation import functional
        return functional
    path = osp.join(_package_dir(), 'evaluation', 'functional')
    name = 'rcl_mm_evaluation_functional'
    spec = importlib.util.spec_from_file_location(
        name, osp.join(path, '__init__.py'),
        submodule_search_locations=[path])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Detection mAP / AR@AN of an official results JSON')
    parser.add_argument('gt', help='ground truth JSON')
    parser.add_argument('pred', help='results JSON')
    parser.add_argument(
        '--dataset', choices=['activitynet', 'thumos14'],
        default='activitynet',
        help='tIoU thresholds: 0.5:0.05:0.95 or 0.3:0.1:0.7')
    parser.add_argument(
        '--subset', default=None,
        help='subset of the official layout (default: validation for '
        'ActivityNet, test for THUMOS14)')
    parser.add_argument(
        '--proposals', action='store_true',
        help='AR@AN and AUC of class-agnostic proposals instead of mAP')
    parser.add_argument(
        '--max-avg-proposals', type=int, default=100,
        help='the largest AN of AR@AN')
    parser.add_argument(
        '--breakdown', action='store_true',
        help='average mAP per DETAD coverage / length bin, and a bar '
        'chart PNG next to --out (or breakdown.png)')
    parser.add_argument('--out', help='write the metrics as JSON here')
    _cli().add_debug_argument(parser)
    return parser.parse_args(argv)


def evaluate(args, fn):
    """Run the evaluation; returns (metrics dict, printable tables)."""
    subset = args.subset or ('test' if args.dataset == 'thumos14' else
                             'validation')
    # The ground truth first: its errors do not hide behind the results'.
    gt = fn.load_ground_truth(args.gt, subset)
    preds = fn.load_predictions(args.pred, require_labels=not args.proposals)
    tables = []
    if args.proposals:
        result = fn.average_recall_vs_proposals(gt, preds,
                                                args.max_avg_proposals)
        metrics = fn.ar_at_an(result)
        rows = [['metric', 'value']] + [[k, f'{v:.4f}']
                                        for k, v in metrics.items()]
        tables.append(AsciiTable(rows, 'AR@AN (AUC in %)').table)
    else:
        thresholds = fn.default_tiou_thresholds(args.dataset)
        result = fn.detection_map(gt, preds, thresholds, args.pred)
        metrics = fn.detection_summary(result)
        rows = [['tIoU'] + [f'{t:.2f}' for t in thresholds] + ['average'],
                ['mAP (%)'] + [f'{100 * m:.2f}' for m in result['mAP']] +
                [f'{100 * result["average_mAP"]:.2f}']]
        tables.append(AsciiTable(rows, f'{args.dataset} detection').table)
        if args.breakdown:
            breakdown = fn.detad_breakdown(gt, result)
            metrics['breakdown'] = breakdown
            for name, bins in breakdown.items():
                rows = [['bin'] + list(bins),
                        ['avg mAP (%)'] + [
                            '-' if v is None else f'{100 * v:.2f}'
                            for v in bins.values()]]
                tables.append(AsciiTable(rows, f'{name} (DETAD)').table)
            png = (osp.splitext(args.out)[0] + '_breakdown.png'
                   if args.out else 'breakdown.png')
            fn.plot_breakdown(breakdown, png, result['average_mAP'])
            tables.append(f'Breakdown chart: {png}')
    if result['num_outside']:
        outside = int((fn.video_rows(gt, preds) < 0).sum())
        warnings.warn(
            f'{args.pred}: {result["num_outside"]} predictions of '
            f'{outside} videos are not in the ground truth subset '
            f'{subset!r}; as in the official code they count as false '
            'positives (detection) and in the proposal total (AR@AN).')
    return metrics, tables


def main(argv=None):
    args = parse_args(argv)
    fn = _functional()
    metrics, tables = evaluate(args, fn)
    print('\n'.join(tables))
    if args.out:
        fn.write_json_atomic(args.out, metrics, indent=2)


if __name__ == '__main__':
    sys.exit(_cli().run_tool(main))
