# Copyright (c) rcl_mm contributors. All rights reserved.
"""Detect actions in one video or a folder of videos (or their features).

Usage: python tools/inference.py FEATURES --config C --checkpoint P
       [--duration S] [--class-scores F] [--out-dir D] [--device cpu]
       python tools/inference.py VIDEO_OR_FOLDER --config C --checkpoint P
       --extractor E --extractor-checkpoint W [--interval 16] ...

With ``--extractor`` (a config of configs/feature_extraction/) the input
is a video file or a folder of videos: each video's snippet features are
extracted first (``tools/data/extract_features.py``; written to
``--feature-dir``, ``D/features`` by default), its segments are in seconds
(the duration read from the video) and its plot has a strip of video
frames above the detections. The extractor's feature dimension must be
the localizer's ``feat_dim``; a mismatch names both configs.

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
from rcl_mm.apis.feature_extraction import (DEFAULT_INTERVAL,
                                            collect_folder_info,
                                            init_feature_extractor,
                                            iter_extract_folder, list_videos,
                                            video_name)
from rcl_mm.evaluation.functional import fuse_class_scores, load_class_scores
from rcl_mm.utils.cli import (UserError, add_debug_argument, debug_requested,
                              is_user_error, report_failures, run_tool)
from rcl_mm.utils.config_check import add_cfg_options_argument
from rcl_mm.utils.io import atomic_write
from rcl_mm.visualization import plot_timeline


def parse_args():
    parser = argparse.ArgumentParser(
        description='Detect actions in snippet features.')
    parser.add_argument(
        'features',
        help='feature file or folder (with --extractor: video or folder)')
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
    video = parser.add_argument_group(
        'videos', 'detect in raw videos: extract their features first')
    video.add_argument('--extractor',
                       help='extractor config (configs/feature_extraction/)')
    video.add_argument('--extractor-checkpoint',
                       help='the extractor\'s recognizer checkpoint')
    video.add_argument(
        '--extractor-random-weights', action='store_true',
        help='extractor without a checkpoint (tests and demos only)')
    video.add_argument('--interval', type=int, default=DEFAULT_INTERVAL,
                       help='frames per snippet')
    video.add_argument('--feature-dir',
                       help='where the features go (default OUT_DIR/features)')
    video.add_argument('--strip-frames', type=int, default=8,
                       help='video frames drawn above the timeline')
    add_cfg_options_argument(parser)
    add_debug_argument(parser)
    args = parser.parse_args()
    if args.extractor is None:
        given = [name for name in ('extractor_checkpoint',
                                   'extractor_random_weights', 'feature_dir')
                 if getattr(args, name)]
        if given:
            parser.error(f'--{given[0].replace("_", "-")} needs --extractor')
    elif args.duration is not None:
        parser.error('--duration is read from the video with --extractor')
    return args


def write_video(result, class_scores, args, video=None):
    """Write ``<video>.json`` and ``<video>.png`` of one video.

    ``video`` (with ``--extractor``): the video's info and thumbnails; the
    JSON gets the info, the plot the duration of the video and a strip of
    its frames.
    """
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
    duration, frames, extra = result['duration'], None, {}
    if video is not None:
        info, frames = video
        duration = info['duration_second']
        extra = dict(video_file=info['video_file'], video_info={
            k: info[k] for k in ('num_frames', 'fps', 'num_snippets',
                                 'snippet_interval', 'feature_second')})
    with atomic_write(osp.join(args.out_dir, f'{name}.json')) as f:
        json.dump(dict(video_name=name, unit=result['unit'],
                       duration=duration, detections=detections, **extra),
                  f, indent=1)
    plot_timeline(
        osp.join(args.out_dir, f'{name}.png'),
        duration=duration, gt_segments=[],
        detections=[d['segment'] + [d['score']] for d in detections],
        model=osp.splitext(osp.basename(args.config))[0], video=name,
        time_unit=result['unit'], top_k=args.top_k, frames=frames)


def check_feature_dims(extractor, model, args):
    """The extractor's features must have the localizer's ``feat_dim``."""
    expected = model.backbone.feat_dim
    if extractor.feat_dim != expected:
        raise UserError(
            f'the extractor {args.extractor} gives {extractor.feat_dim}-d '
            f'features but the localizer {args.config} expects '
            f'feat_dim={expected}', args.extractor,
            'use a localizer trained on this extractor\'s features '
            '(docs/custom_dataset.md) or the extractor it was trained on')


def extract_videos(model, args, failures):
    """Extract the features of the input videos.

    Returns:
        tuple: feature files, ``{video: feature seconds}`` and ``{video:
        (info, thumbnails)}`` of the videos that worked; the others are
        appended to ``failures`` (one video: its error is raised).
    """
    videos = list_videos(args.features)
    extractor = init_feature_extractor(
        args.extractor, args.extractor_checkpoint, args.device,
        random_weights=args.extractor_random_weights)
    check_feature_dims(extractor, model, args)
    feature_dir = args.feature_dir or osp.join(args.out_dir, 'features')
    files, durations, videos_info = [], {}, {}
    for path, result, error in iter_extract_folder(
            extractor, videos, feature_dir, args.interval, 'npy',
            num_thumbnails=args.strip_frames, progress=True):
        if error is not None:
            if len(videos) == 1:
                raise error
            failures.append((path, error))
            continue
        feature_file, info, thumbnails = result
        name = video_name(path)
        files.append(feature_file)
        # The features cover num_snippets * interval frames: their
        # seconds place the detections in the video.
        durations[name] = info['feature_second']
        videos_info[name] = (info, thumbnails)
    if files:
        collect_folder_info(feature_dir)
    return files, durations, videos_info, len(videos)


def main():
    args = parse_args()
    if args.extractor is not None:
        return main_videos(args)
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
    return detect_and_write(model, files, names, durations, args, [],
                            len(files))


def main_videos(args):
    """``--extractor``: videos -> features -> detections."""
    model = init_localizer(args.config, args.checkpoint, args.device,
                           args.cfg_options)
    failures = []
    files, durations, videos_info, total = extract_videos(model, args,
                                                          failures)
    names = [osp.splitext(osp.basename(f))[0] for f in files]
    return detect_and_write(model, files, names, durations, args, failures,
                            total, videos_info)


def detect_and_write(model, files, names, durations, args, failures, total,
                     videos_info=None):
    """Detect, write each video and report the failures."""
    class_scores = None
    if args.class_scores:
        class_scores = load_class_scores(args.class_scores,
                                         video_ids=names)
    written = 0
    for path, result, error in iter_detections(
            model, files, durations, args.batch_size,
            progress=len(files) > 1):
        if error is None:
            try:
                write_video(result, class_scores, args,
                            (videos_info or {}).get(result['video_name']))
                written += 1
                continue
            except Exception as write_error:  # noqa: B902  (per video)
                error = write_error
        if total == 1:
            raise error  # one video: its error is the run's
        if debug_requested() or not is_user_error(error):
            # A bug (or any error with --debug): its traceback now; the
            # other videos go on.
            traceback.print_exception(type(error), error,
                                      error.__traceback__)
        failures.append((path, error))
    print(f'{written} video(s) -> {args.out_dir}')
    return report_failures(failures, total)


if __name__ == '__main__':
    sys.exit(run_tool(main))
