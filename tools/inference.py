# Copyright (c) rcl_mm contributors. All rights reserved.
"""Detect actions in the features of one video or a folder of videos.

Usage: python tools/inference.py FEATURES --config C --checkpoint P
       [--duration S] [--class-scores F] [--out-dir D] [--device cpu]

FEATURES is a ``.csv`` (T x C with one header row) or ``.npy`` (T x C) file,
or a folder of them; any T. Features are resized to the config's T, or,
when the config is windowed (THUMOS14, see docs/thumos.md), cut into
windows that run ``--batch-size`` at a time and are merged before
Soft-NMS, so a video of any length runs in bounded memory. For each
video, ``D/<video>.json`` holds the detections and ``D/<video>.png``
draws them on a timeline. Without ``--duration``, segments are in snippets
of the feature file (windowed configs: seconds at the config's
snippet_stride / fps).

Each video is written as soon as its batch is done. A video that fails
(unreadable features, ...) is reported and the others go on; the run then
ends with exit status 3 and a list of the failed videos (2: an error
before any video, e.g. a bad config or checkpoint).
"""
import argparse
import json
import os.path as osp
import sys
import traceback

import numpy as np

from rcl_mm.apis import init_localizer, iter_detections, list_feature_files
from rcl_mm.evaluation.functional import fuse_class_scores, load_class_scores
from rcl_mm.utils.cli import (UserError, add_debug_argument, debug_requested,
                              is_user_error, report_failures, run_tool)
from rcl_mm.utils.config_check import add_cfg_options_argument
from rcl_mm.utils.io import atomic_write
from rcl_mm.visualization import plot_timeline


def parse_args():
    parser = argparse.ArgumentParser(
        description='Detect actions in snippet features.')
    parser.add_argument('features', help='feature file or folder')
    parser.add_argument('--config', required=True, help='model config')
    parser.add_argument('--checkpoint', required=True, help='checkpoint')
    parser.add_argument(
        '--duration', type=float,
        help='video duration in seconds (one video only)')
    parser.add_argument(
        '--class-scores',
        help='video-level class scores (official classification results '
        'JSON, CUHK JSON or UntrimmedNet .npy); labels each detection with '
        'the video\'s top classes, score = proposal score x class score')
    parser.add_argument(
        '--class-top-k', type=int, default=2,
        help='classes per video with --class-scores')
    parser.add_argument('--out-dir', default='inference_results')
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--batch-size', type=int, default=8,
        help='videos (windowed configs: windows) per forward pass')
    parser.add_argument(
        '--top-k', type=int, default=10, help='detections drawn per video')
    add_cfg_options_argument(parser)
    add_debug_argument(parser)
    return parser.parse_args()


def write_video(result, class_scores, args):
    """Write ``<video>.json`` and ``<video>.png`` of one video."""
    name = result['video_name']
    segments, scores = result['segments'], result['scores']
    labels = None
    if class_scores is not None:
        segments, scores, labels = fuse_class_scores(
            segments, scores, class_scores(name), args.class_top_k)
        order = np.argsort(-scores, kind='stable')
        segments, scores, labels = (segments[order], scores[order],
                                    labels[order])
    detections = [
        dict(segment=[float(s), float(e)], score=float(score))
        for (s, e), score in zip(segments, scores)
    ]
    if labels is not None:
        for det, label in zip(detections, labels):
            det['label'] = class_scores.class_names[label]
    with atomic_write(osp.join(args.out_dir, f'{name}.json')) as f:
        json.dump(dict(video_name=name, unit=result['unit'],
                       duration=result['duration'],
                       detections=detections), f, indent=1)
    plot_timeline(
        osp.join(args.out_dir, f'{name}.png'),
        duration=result['duration'], gt_segments=[],
        detections=[d['segment'] + [d['score']] for d in detections],
        model=osp.splitext(osp.basename(args.config))[0], video=name,
        time_unit=result['unit'], top_k=args.top_k)


def main():
    args = parse_args()
    files = list_feature_files(args.features)
    names = [osp.splitext(osp.basename(f))[0] for f in files]
    durations = {}
    if args.duration is not None:
        if len(files) != 1:
            raise UserError(
                '--duration applies to one video', args.features,
                f'the folder holds {len(files)} videos; pass one feature '
                'file, or drop --duration (segments in snippets)')
        durations[names[0]] = args.duration
    model = init_localizer(args.config, args.checkpoint, args.device,
                           args.cfg_options)
    class_scores = None
    if args.class_scores:
        class_scores = load_class_scores(args.class_scores,
                                         video_ids=names)
    failures, written = [], 0
    for path, result, error in iter_detections(
            model, files, durations, args.batch_size,
            progress=len(files) > 1):
        if error is None:
            try:
                write_video(result, class_scores, args)
                written += 1
                continue
            except Exception as write_error:  # noqa: B902  (per video)
                error = write_error
        if len(files) == 1:
            raise error  # one video: its error is the run's
        if debug_requested() or not is_user_error(error):
            # A bug (or any error with --debug): its traceback now; the
            # other videos go on.
            traceback.print_exception(type(error), error,
                                      error.__traceback__)
        failures.append((path, error))
    print(f'{written} video(s) -> {args.out_dir}')
    return report_failures(failures, len(files))


if __name__ == '__main__':
    sys.exit(run_tool(main))
