# Copyright (c) rcl_mm contributors. All rights reserved.
"""Extract snippet features of videos with an mmaction2 recognizer.

Usage::

    python tools/data/extract_features.py VIDEO_OR_FOLDER \\
        --config configs/feature_extraction/tsn_r50_rgb.py \\
        --checkpoint tsn_r50_k400.pth --out-dir data/my_videos/features \\
        [--interval 16] [--format csv|npy] [--device cuda] [--skip-existing]

For each video, one feature vector per snippet of ``--interval`` frames
(16, as the ActivityNet features); the clip each snippet sees (frames,
stride, resize, crop) is the extractor config's ``feature_extraction``.
Writes ``DIR/<video>.csv`` (T x C with a header row; ``.npy`` with
``--format npy``), ``DIR/<video>.info.json`` (num_frames, fps,
duration_second, num_snippets, ...) and, for the whole folder,
``DIR/video_info.json``: what ``tools/data/prepare_custom_dataset.py`` and
the datasets read (docs/custom_dataset.md).

No weights are downloaded: ``--checkpoint`` is the recognizer checkpoint
that the config names; ``--random-weights`` runs without one (tests and
demos; the features mean nothing). A video that cannot be decoded is
reported and skipped; the others are written and the run ends with exit
status 3 and the list of failed videos.
"""
import argparse
import os.path as osp
import sys
import traceback

from rcl_mm.apis.feature_extraction import (DEFAULT_INTERVAL,
                                            collect_folder_info,
                                            init_feature_extractor,
                                            iter_extract_folder, list_videos)
from rcl_mm.utils.cli import (add_debug_argument, debug_requested,
                              is_user_error, report_failures, run_tool)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Extract snippet features of videos.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('videos', help='a video file or a folder of videos')
    parser.add_argument('--config', required=True,
                        help='extractor config (configs/feature_extraction/)')
    parser.add_argument('--checkpoint', help='recognizer checkpoint')
    parser.add_argument(
        '--random-weights', action='store_true',
        help='run without a checkpoint (tests and demos only)')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--interval', type=int, default=DEFAULT_INTERVAL,
                        help='frames per snippet')
    parser.add_argument('--format', choices=['csv', 'npy'], default='csv')
    parser.add_argument('--device', default='cpu',
                        help="'cpu' or 'cuda' (or 'cuda:N')")
    parser.add_argument('--batch-size', type=int,
                        help='clips per forward pass (default: the config)')
    parser.add_argument(
        '--skip-existing', action='store_true',
        help='keep videos whose features and info are already written')
    add_debug_argument(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    videos = list_videos(args.videos)
    settings = {}
    if args.batch_size is not None:
        settings['batch_size'] = args.batch_size
    extractor = init_feature_extractor(
        args.config, args.checkpoint, args.device,
        random_weights=args.random_weights, settings=settings)
    failures, written = [], 0
    for video, result, error in iter_extract_folder(
            extractor, videos, args.out_dir, args.interval, args.format,
            skip_existing=args.skip_existing, progress=True):
        if error is None:
            written += 1
            continue
        if len(videos) == 1:
            raise error  # one video: its error is the run's
        if debug_requested() or not is_user_error(error):
            traceback.print_exception(type(error), error,
                                      error.__traceback__)
        failures.append((video, error))
    if written:
        collect_folder_info(args.out_dir)
    print(f'{written} video(s) -> {osp.abspath(args.out_dir)} '
          f'({extractor.feat_dim}-d features)')
    return report_failures(failures, len(videos))


if __name__ == '__main__':
    sys.exit(run_tool(main))
