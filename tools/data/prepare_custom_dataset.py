# Copyright (c) rcl_mm contributors. All rights reserved.
"""Annotation files of your own dataset for configs/custom/rcl_bmn_custom.py.

Usage::

    python tools/data/prepare_custom_dataset.py ANNOTATIONS \\
        --feature-dir data/custom/features --out-dir data/custom \\
        [--val-annotations VAL] [--train-subset training] \\
        [--val-subset validation] [--feature-ext .csv]

ANNOTATIONS is a JSON in the ActivityNet layout (``{"database": {video:
{"subset", "annotations": [{"segment": [start, end], "label"}]}}}``; its
``--train-subset`` videos train, its ``--val-subset`` videos validate) or
a THUMOS csv (``video,type,start,end``; then ``--val-annotations`` gives
the validation csv). The feature folder is the output of
``tools/data/extract_features.py`` (features and ``<video>.info.json``).

Writes ``OUT/anet_anno_train.json``, ``OUT/anet_anno_val.json`` (the
layout ActivityNetFeatureDataset reads; durations and frames from the
videos) and ``OUT/classes.json``. Every annotated video must have its
features and every segment must end within the video (1 s tolerance):
all problems are listed at once and nothing is written. Videos with
features but no annotation, and ``Ambiguous`` instances, are reported.
See docs/custom_dataset.md.
"""
import argparse
import sys

from rcl_mm.datasets.custom_annotations import prepare_custom_annotations
from rcl_mm.utils.cli import add_debug_argument, run_tool


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Annotation files of your own dataset.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('annotations',
                        help='ActivityNet-layout JSON or THUMOS csv')
    parser.add_argument('--val-annotations',
                        help='validation annotations (JSON or csv)')
    parser.add_argument('--feature-dir', required=True,
                        help='folder of tools/data/extract_features.py')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--train-subset', default='training')
    parser.add_argument('--val-subset', default='validation')
    parser.add_argument('--feature-ext', default='.csv',
                        choices=['.csv', '.npy'])
    add_debug_argument(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    summary = prepare_custom_annotations(
        args.annotations, args.feature_dir, args.out_dir,
        val_annotations=args.val_annotations,
        train_subset=args.train_subset, val_subset=args.val_subset,
        feature_ext=args.feature_ext)
    print(f'{len(summary["train"])} training and {len(summary["val"])} '
          f'validation video(s), {len(summary["classes"])} class(es) -> '
          f'{args.out_dir}')
    if summary['ambiguous']:
        print(f'note: {summary["ambiguous"]} instance(s) labelled '
              '"Ambiguous" left out', file=sys.stderr)
    if summary['unused']:
        print(f'note: {len(summary["unused"])} video(s) with features but '
              f'no annotation, left out: {", ".join(summary["unused"])}',
              file=sys.stderr)


if __name__ == '__main__':
    sys.exit(run_tool(main))
