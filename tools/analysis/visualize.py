# Copyright (c) rcl_mm contributors. All rights reserved.
"""Plots of one video: the confidence map at each RRM iteration and the
detections against the ground truth on a timeline.

Usage: python tools/analysis/visualize.py CONFIG CHECKPOINT
       [--video v_NAME] [--out-dir work_dirs/visualize]
       [--cfg-options ...]

Without ``--video`` the test-set video with the most ground-truth segments
is drawn. Writes ``<video>_iter<t>.png`` for t = 0 (the head's G_0) to the
number of RRM iterations (one, ``_iter0``, for BMN) and
``<video>_timeline.png``.
"""
import argparse
import os
import os.path as osp
import sys

import torch
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint

import rcl_mm  # noqa: F401
from rcl_mm.registry import DATASETS, MODELS
from rcl_mm.utils.checkpoint import check_checkpoint_file
from rcl_mm.utils.cli import UserError, add_debug_argument, run_tool
from rcl_mm.utils.compat import mmengine_checkpoint_globals
from rcl_mm.utils.config_check import add_cfg_options_argument, load_config
from rcl_mm.visualization import plot_confidence_map, plot_timeline


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--video', help='video name, e.g. v_abc')
    parser.add_argument('--out-dir', default='work_dirs/visualize')
    add_cfg_options_argument(parser)
    add_debug_argument(parser)
    return parser.parse_args()


@torch.no_grad()
def confidence_maps(model, inputs):
    """Confidences of every iteration: [sigmoid(G_0), ..., sigmoid(G_n)].

    Args:
        model: An ``RCLLocalizer`` or a ``ProposalMapLocalizer``.
        inputs (Tensor): 1 x C x T features.

    Returns:
        list[Tensor]: 2 x D x T maps.
    """
    if hasattr(model, 'extract'):
        _, _, logits, maps = model.extract(inputs)
        return [m[0].sigmoid() for m in [logits] + maps]
    return [model(inputs, None, mode='tensor')[0][0]]


@torch.no_grad()
def visualize_video(model, inputs, data_sample, out_dir):
    """Write the map PNGs and the timeline of one video.

    Args:
        model: The localizer, in eval mode.
        inputs (Tensor): C x T features of the video.
        data_sample (ActionDataSample): With ``gt_instances.gt_bbox``
            (normalised) and metainfo ``video_name``, ``duration_second``.
        out_dir (str): Output folder.

    Returns:
        list[str]: The files written, maps first.
    """
    os.makedirs(out_dir, exist_ok=True)
    name = data_sample.metainfo.get('video_name', 'video')
    inputs = inputs[None].float()
    gt = torch.as_tensor(data_sample.gt_instances.gt_bbox,
                         dtype=torch.float32).reshape(-1, 2)
    gt_iou_map, _, _ = model.build_targets([data_sample], inputs.device)
    valid = model.backbone.valid_mask.cpu().numpy()
    files = []
    maps = confidence_maps(model, inputs)
    for t, conf in enumerate(maps):
        path = osp.join(out_dir, f'{name}_iter{t}.png')
        plot_confidence_map(
            path, conf.cpu().numpy(), gt_iou_map[0].cpu().numpy(), valid,
            title=f'{name}: RRM iteration {t} of {len(maps) - 1}')
        files.append(path)
    result = model.predict(inputs, [data_sample])[0]
    duration = float(data_sample.metainfo['duration_second'])
    dets = torch.cat((result.pred_instances.segments,
                      result.pred_instances.scores[:, None]), dim=1)
    path = osp.join(out_dir, f'{name}_timeline.png')
    annotations = data_sample.metainfo.get('annotations')
    if annotations is not None:
        gt_seconds = [a['segment'] for a in annotations]
    else:
        # gt_bbox is normalised to the featured part of the video, which
        # the detections are scaled to as well.
        scale = model._video_duration(data_sample.metainfo)
        gt_seconds = (gt.double() * scale).numpy()
    plot_timeline(path, duration=duration, gt_segments=gt_seconds,
                  detections=dets.numpy(), video=name,
                  model=type(model).__name__)
    files.append(path)
    return files


def main():
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options)
    check_checkpoint_file(args.checkpoint)
    with DefaultScope.overwrite_default_scope('rcl_mm'):
        model = MODELS.build(cfg.model)
        dataset = DATASETS.build(cfg.test_dataloader.dataset)
    with mmengine_checkpoint_globals():  # a Runner checkpoint, torch >= 2.6
        load_checkpoint(model, args.checkpoint, map_location='cpu')
    model.eval()
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    if args.video:
        names = [info['video_name'] for info in infos]
        if args.video not in names:
            raise UserError(
                'no such video in the test set', f'--video {args.video}',
                f'pick one of its {len(names)} videos, e.g. {names[:3]}')
        index = names.index(args.video)
    else:
        index = max(range(len(infos)),
                    key=lambda i: len(infos[i].get('annotations', [])))
    data = dataset[index]
    for path in visualize_video(model, data['inputs'], data['data_samples'],
                                args.out_dir):
        print(path)


if __name__ == '__main__':
    sys.exit(run_tool(main))
