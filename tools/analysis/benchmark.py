# Copyright (c) rcl_mm contributors. All rights reserved.
"""Benchmark suite: speed and memory of mmaction2's BMN and our models.

Parts (``--parts``, all by default):

- ``train``: a training step (forward, loss, backward, Adam) at batch
  ``--batch``, mean over ``--steps`` after ``--warmup`` steps, and the peak
  memory (CPU: the process's peak RSS; CUDA: ``max_memory_allocated``).
- ``pair``: each RCL model against its base (``rcl_bmn`` and
  ``rcl_bmn_light`` vs ``bmn``, ``rcl_gtad`` vs ``gtad``) in one
  process, training steps alternated for ``--pair-rounds`` rounds (the
  order swapped every round): the median of the per-round step ratios,
  so that drift of the machine's speed, which moves separate runs by tens
  of percent on shared machines, cancels. The "RCL step <= 1.3x" targets
  (the light RRM's ``rcl_bmn_light``) use it where it ran; ``rcl_bmn``'s
  (the supplement's RRM) ratio is reported, with no target.
- ``infer``: forward (``mode='tensor'``) at batch 1 and at ``--batch``, and
  the prediction of one video (``mode='predict'``: forward, candidates,
  Soft-NMS, top-k).
- ``post``: post-processing per video on BMN-like smooth maps and on
  worst-case noise maps, ours (1 and ``--batch`` videos) and mmaction2's
  numpy code (where its map size applies, D = T). ActivityNet: candidate
  selection + Soft-NMS + top-k; THUMOS14: the candidates of a video's
  windows merged, then Soft-NMS + top-k.
- ``op``: CARAlign (BM layer fused with its 3-D convolution) forward +
  backward against mmaction2's dense sampling mask + conv3d.
- ``eval``: the ActivityNet validation set with 100 labelled predictions
  per video (492,600; seeded) evaluated by ``eval_detection.py`` and by
  mmaction2's ``ActivityNetLocalization``.
- ``demo``: the Runner's test loop over the demo validation split
  (``configs/demo/*``), seeded weights or ``--demo-checkpoint``.

On the CPU, ``--reuse-freed-memory`` measures with freed memory kept for
reuse in every worker, as training with ``ReuseFreedMemoryHook`` (our
default runtime) runs; without it, glibc's defaults (large tensors are
page-faulted in afresh at every step).

Models (``--models``): ``mmaction2`` (mmaction2's BMN), ``bmn`` (ours, with
mmaction2's weights converted where D = T, so outputs are compared),
``rcl_bmn`` (10 iterations of the supplement's RRM, RAFT's
SmallUpdateBlock: configs/rcl_bmn_anet.py), ``rcl_bmn_light`` (10
iterations of the light update block: configs/rcl_bmn_anet_light_rrm.py),
``gtad``,
``rcl_gtad``. Settings
(``--settings``): ``anet`` (T = D = 100, 400-d) and ``thumos`` (T = 256,
D = 64, 2048-d). Every (setting, model) and every op case runs in a fresh
subprocess, so peak memory is its own.

Usage: python tools/analysis/benchmark.py [--parts train,infer,post]
       [--models bmn,rcl_bmn] [--settings anet] [--device cpu|cuda]
       [--amp bf16] [--threads 2] [--steps 3] [--warmup 1]
       [--out benchmark.json]
"""
import argparse
import json
import os
import os.path as osp
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from datetime import datetime, timezone

import numpy as np
import torch
from terminaltables import AsciiTable

from rcl_mm.ops.triton_utils import triton_available
from rcl_mm.utils.cli import add_debug_argument, run_tool

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
GIB = 1024**3

PARTS = ('train', 'pair', 'infer', 'post', 'op', 'eval', 'demo')
# The pairs of the ``pair`` part: (base, RCL model).
PAIRS = (('bmn', 'rcl_bmn'), ('bmn', 'rcl_bmn_light'), ('gtad', 'rcl_gtad'))
MODELS = ('mmaction2', 'bmn', 'rcl_bmn', 'rcl_bmn_light', 'gtad', 'rcl_gtad')
# Configs of our models; the setting overrides T, D and the input width.
CONFIGS = dict(
    bmn='configs/bmn_anet.py',
    rcl_bmn='configs/rcl_bmn_anet.py',
    rcl_bmn_light='configs/rcl_bmn_anet_light_rrm.py',
    gtad='configs/gtad_anet.py',
    rcl_gtad='configs/rcl_gtad_anet.py')
DEMO_CONFIGS = {
    m: f'configs/demo/{m}_demo.py'
    for m in ('bmn', 'rcl_bmn', 'gtad', 'rcl_gtad')
}
# Soft-NMS as each dataset's BMN / G-TAD setting uses it.
SETTINGS = dict(
    anet=dict(temporal_dim=100, duration_dim=100, feat_dim=400,
              soft_nms_alpha=0.4, soft_nms_low_threshold=0.5,
              soft_nms_high_threshold=0.9, top_k=100),
    # THUMOS14 as configs/*_thumos.py: windows of 256 snippets (5 frames
    # at 30 fps) every 128, the 100 best candidates of each window, then
    # Soft-NMS over the merged windows of a video (thresholds 0: every
    # overlap decays). Nine windows make a 213 s video.
    thumos=dict(temporal_dim=256, duration_dim=64, feat_dim=2048,
                soft_nms_alpha=0.3, soft_nms_low_threshold=0.0,
                soft_nms_high_threshold=0.0, top_k=200, window_top_k=100,
                window_stride=128, snippet_seconds=5 / 30,
                windows_per_video=9))
# --tiny: seconds instead of minutes, for tests of the suite itself.
TINY = dict(anet=dict(temporal_dim=16, duration_dim=16, feat_dim=32),
            thumos=dict(temporal_dim=24, duration_dim=8, feat_dim=48,
                        window_stride=12, windows_per_video=3))
# The official ActivityNet ground truth, shipped with the repository
# (data/annotations/README.md).
DEFAULT_GT = osp.join(ROOT, 'data', 'annotations', 'activitynet',
                      'activity_net_v1-3_gt.json')

# Targets: (name, setting, device type, model, quantity, bound, how).
# 'max': value <= bound; 'min': value >= bound.
TARGETS = (
    ('step vs mmaction2 >= 10x', 'anet', 'cpu', 'bmn',
     'train_speedup_vs_mmaction2', 10.0, 'min'),
    ('peak memory <= 1/5 of mmaction2', 'anet', 'cpu', 'bmn',
     'peak_ratio_vs_mmaction2', 0.2, 'max'),
    ('step <= 1.3x our BMN', 'anet', 'cpu', 'rcl_bmn_light',
     'train_ratio_vs_bmn', 1.3, 'max'),
    ('step <= 1.3x our BMN', 'thumos', 'cpu', 'rcl_bmn_light',
     'train_ratio_vs_bmn', 1.3, 'max'),
    ('step <= 5 ms', 'anet', 'cuda', 'bmn', 'train_step_s', 0.005, 'max'),
    ('step <= 7 ms', 'anet', 'cuda', 'rcl_bmn', 'train_step_s', 0.007,
     'max'),
    ('1 video incl. post <= 3 ms', 'anet', 'cuda', 'bmn',
     'predict_one_video_s', 0.003, 'max'),
    ('1 video incl. post <= 3 ms', 'anet', 'cuda', 'rcl_bmn',
     'predict_one_video_s', 0.003, 'max'),
)
# Candidate selection + Soft-NMS, worst case over the map kinds, batch 1.
POST_TARGET = ('post <= 20 ms/video', 'anet', 'cpu', 20.0)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--parts', default=','.join(PARTS),
        help=f'comma-separated subset of {",".join(PARTS)}')
    parser.add_argument(
        '--models', default=','.join(MODELS),
        help=f'comma-separated subset of {",".join(MODELS)}')
    parser.add_argument('--settings', default='anet,thumos',
                        help='comma-separated subset of anet,thumos')
    parser.add_argument('--device', default='cpu', help='cpu, cuda, cuda:1')
    parser.add_argument(
        '--amp', choices=['none', 'bf16', 'fp16'], default='none',
        help='autocast dtype for forward and loss')
    parser.add_argument('--threads', type=int,
                        help='torch threads per process (default: torch)')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--steps', type=int, default=3,
                        help='timed repetitions (mean is reported)')
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--pair-rounds', type=int, default=9,
                        help='rounds of alternated steps in the pair part')
    parser.add_argument(
        '--mmaction2-steps', type=int,
        help='cap on the timed steps of mmaction2\'s BMN (slow on CPU)')
    parser.add_argument(
        '--mmaction2-thumos', action='store_true',
        help='also run mmaction2\'s BMN at the THUMOS setting; off by '
        'default: its map is T x T = 256 x 256 whatever D, its batch-8 '
        'training step needs tens of GiB')
    parser.add_argument('--temporal-dim', type=int, help='override T')
    parser.add_argument('--duration-dim', type=int, help='override D')
    parser.add_argument('--feat-dim', type=int, help='override the input '
                        'width')
    parser.add_argument(
        '--tiny', action='store_true',
        help='tiny T, D, width, batch 2 and small eval / post / demo '
        'sizes: checks that every part runs, in seconds')
    parser.add_argument('--post-batches', type=int, default=20,
                        help='maps per kind in the post part')
    parser.add_argument(
        '--soft-nms-impl', choices=['torch', 'triton'], default='torch',
        help="Soft-NMS of our models and post part: 'triton' runs the "
        'whole pick loop as one kernel (CUDA)')
    parser.add_argument(
        '--reuse-freed-memory', action='store_true',
        help='on the CPU, every worker keeps freed memory for reuse '
        '(rcl_mm.utils.reuse_freed_memory, as ReuseFreedMemoryHook does '
        'in training); off: glibc\'s defaults')
    parser.add_argument('--gt', default=DEFAULT_GT,
                        help='official ActivityNet ground truth (eval)')
    parser.add_argument('--eval-videos', type=int,
                        help='validation videos in the eval part (all)')
    parser.add_argument('--eval-per-video', type=int, default=100)
    parser.add_argument('--eval-repeats', type=int, default=3,
                        help='runs of our evaluation (median reported)')
    parser.add_argument('--demo-videos', type=int,
                        help='first N demo validation videos (all 80)')
    parser.add_argument(
        '--demo-checkpoint', action='append', default=[],
        metavar='MODEL=PATH', help='checkpoint for a demo model, e.g. '
        'bmn=work_dirs/bmn_demo/epoch_6.pth (default: seeded weights)')
    parser.add_argument('--out', help='write everything as JSON here')
    parser.add_argument('--worker', help=argparse.SUPPRESS)
    parser.add_argument('--setting', help=argparse.SUPPRESS)
    parser.add_argument('--scratch', help=argparse.SUPPRESS)
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    for name, allowed in (('parts', PARTS), ('models', MODELS),
                          ('settings', tuple(SETTINGS))):
        values = [v for v in getattr(args, name).split(',') if v]
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            parser.error(f'--{name}: unknown {unknown}; choose from '
                         f'{",".join(allowed)}')
        setattr(args, name, values)
    if args.tiny:
        args.batch = min(args.batch, 2)
        args.post_batches = min(args.post_batches, 3)
        args.eval_videos = args.eval_videos or 40
        args.eval_per_video = min(args.eval_per_video, 10)
        args.eval_repeats = 1
        args.demo_videos = args.demo_videos or 4
    return args


def setting_params(args, setting):
    """T, D, width and Soft-NMS of a setting after --tiny and overrides."""
    params = dict(SETTINGS[setting])
    if args.tiny:
        params.update(TINY[setting])
    for key in ('temporal_dim', 'duration_dim', 'feat_dim'):
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)
    if params['duration_dim'] > params['temporal_dim']:
        sys.exit(f'setting {setting}: D = {params["duration_dim"]} > '
                 f'T = {params["temporal_dim"]}; lower --duration-dim')
    return params


# --------------------------------------------------------------- device --
def sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def autocast(args, device):
    if args.amp == 'none':
        return nullcontext()
    dtype = torch.bfloat16 if args.amp == 'bf16' else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def peak_bytes(device):
    """Peak memory so far: CUDA allocations, or the process's peak RSS."""
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def timed(fn, device, repeats, warmup):
    """Mean seconds of ``fn()`` over ``repeats`` after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    sync(device)
    tic = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync(device)
    return (time.perf_counter() - tic) / repeats


def machine_info(device):
    cpu = platform.processor()
    try:
        with open('/proc/cpuinfo') as f:
            names = [ln.split(':', 1)[1].strip() for ln in f
                     if ln.startswith('model name')]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    info = dict(
        cpu=cpu,
        cpu_count=os.cpu_count(),
        cpus_usable=len(os.sched_getaffinity(0))
        if hasattr(os, 'sched_getaffinity') else os.cpu_count(),
        torch_threads=torch.get_num_threads(),
        torch=torch.__version__,
        python=platform.python_version(),
        platform=platform.platform(),
        device=str(device))
    if device.type == 'cuda':
        info['device_name'] = torch.cuda.get_device_name(device)
        info['cuda'] = torch.version.cuda
    else:
        info['device_name'] = cpu
    return info


# --------------------------------------------------------------- models --
def mmaction2_bmn_class():
    """mmaction2's ``BMN`` class (``import rcl_mm`` makes
    ``mmaction.models`` importable whatever transformers is)."""
    import rcl_mm  # noqa: F401
    from mmaction.models import BMN
    return BMN


def build_model(name, params, soft_nms_impl='torch'):
    """One model with seeded weights at a setting.

    ``mmaction2`` is mmaction2's BMN (its map is T x T whatever D);
    ``bmn`` where D = T is our BMN with mmaction2's weights converted, so
    that both give the same outputs; otherwise the model of its config.
    Ours run Soft-NMS with ``soft_nms_impl``.
    """
    MMBMN = mmaction2_bmn_class()
    torch.manual_seed(0)
    bmn_kwargs = dict(
        temporal_dim=params['temporal_dim'], boundary_ratio=0.5,
        num_samples=32, num_samples_per_bin=3, feat_dim=params['feat_dim'],
        soft_nms_alpha=params['soft_nms_alpha'],
        soft_nms_low_threshold=params['soft_nms_low_threshold'],
        soft_nms_high_threshold=params['soft_nms_high_threshold'],
        post_process_top_k=params['top_k'])
    same_grid = params['duration_dim'] == params['temporal_dim']
    if name == 'mmaction2':
        return MMBMN(**bmn_kwargs)
    if name == 'bmn' and same_grid:
        from rcl_mm.models import BMN
        from rcl_mm.utils import convert_mmaction2_bmn
        reference = MMBMN(**bmn_kwargs)
        ours = BMN(**bmn_kwargs)
        ours.load_state_dict(convert_mmaction2_bmn(reference.state_dict()))
        ours.test_cfg['soft_nms_impl'] = soft_nms_impl
        return ours
    from mmengine.config import Config

    from rcl_mm.apis import init_localizer
    cfg = Config.fromfile(osp.join(ROOT, CONFIGS[name]))
    cfg.model.backbone.update(
        feat_dim=params['feat_dim'], temporal_dim=params['temporal_dim'],
        duration_dim=params['duration_dim'])
    cfg.model.test_cfg.update(
        soft_nms_alpha=params['soft_nms_alpha'],
        soft_nms_low_threshold=params['soft_nms_low_threshold'],
        soft_nms_high_threshold=params['soft_nms_high_threshold'],
        top_k=params['top_k'], soft_nms_impl=soft_nms_impl)
    return init_localizer(cfg)


def make_batch(batch, params, device):
    """Seeded features (B, C, T) and data samples with 3 instances each."""
    from mmaction.structures import ActionDataSample
    from mmengine.structures import InstanceData
    gen = torch.Generator().manual_seed(1)
    inputs = torch.rand(batch, params['feat_dim'], params['temporal_dim'],
                        generator=gen)
    samples = []
    for i in range(batch):
        start = torch.rand(3, generator=gen) * 0.6
        length = torch.rand(3, generator=gen) * 0.3 + 0.05
        sample = ActionDataSample()
        sample.gt_instances = InstanceData(
            gt_bbox=torch.stack([start, start + length], 1).to(device))
        sample.set_metainfo(
            dict(video_name=f'v_bench{i}', duration_second=120.0,
                 duration_frame=3600, feature_frame=3584))
        samples.append(sample)
    return list(inputs.to(device)), samples


def training_step(model, inputs, samples, args, device):
    """A closure running one training step of ``model`` (forward and loss
    under ``--amp``, backward, Adam), with its own optimizer."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step():
        with autocast(args, device):
            losses = model(inputs, samples, mode='loss')
            total = sum(v for k, v in losses.items() if 'loss' in k)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()

    return step


def model_worker(args):
    """Train / infer one model at one setting; print a RESULT line."""
    device = torch.device(args.device)
    params = setting_params(args, args.setting)
    model = build_model(args.worker, params, args.soft_nms_impl).to(device)
    inputs, samples = make_batch(args.batch, params, device)
    steps = args.steps
    if args.worker == 'mmaction2' and args.mmaction2_steps:
        steps = min(steps, args.mmaction2_steps)
    result = dict(model=args.worker, setting=args.setting, steps=steps,
                  # Trainable only: mmaction2 keeps its sampling mask as a
                  # frozen parameter.
                  num_parameters=sum(p.numel() for p in model.parameters()
                                     if p.requires_grad))
    if args.scratch:
        # Outputs of the seeded weights, before any training step, in
        # float32 (compared across models by the parent).
        model.eval()
        # cuDNN may run float32 convolutions in TF32 (errors ~1e-3), which
        # would hide whether the models agree; timings keep the default.
        tf32 = torch.backends.cudnn.allow_tf32
        torch.backends.cudnn.allow_tf32 = False
        with torch.no_grad():
            out = model(inputs, samples, mode='tensor')
        torch.backends.cudnn.allow_tf32 = tf32
        torch.save([t.float().cpu() for t in out[:3]],
                   osp.join(args.scratch, f'{args.worker}.pt'))
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    # Libraries, model and batch; the step's own memory is the peak above.
    result['base_bytes'] = peak_bytes(device)

    if 'train' in args.parts:
        model.train()
        result['train_step_s'] = timed(
            training_step(model, inputs, samples, args, device), device,
            steps, args.warmup)
        result['peak_bytes'] = peak_bytes(device)
        result['train_extra_bytes'] = result['peak_bytes'] - \
            result['base_bytes']
    if 'infer' in args.parts:
        model.eval()

        # mmaction2's predict hands its outputs to numpy, which has no
        # bfloat16: its prediction runs without autocast.
        result['predict_autocast'] = args.amp != 'none' and \
            args.worker != 'mmaction2'

        def run(batch, mode):
            amp = autocast(args, device)
            if mode == 'predict' and not result['predict_autocast']:
                amp = nullcontext()
            with torch.no_grad(), amp:
                return model(inputs[:batch], samples[:batch], mode=mode)

        result['infer_batch1_s'] = timed(lambda: run(1, 'tensor'), device,
                                         steps, max(args.warmup, 1))
        result[f'infer_batch{args.batch}_s'] = timed(
            lambda: run(args.batch, 'tensor'), device, steps,
            max(args.warmup, 1))
        result['predict_one_video_s'] = timed(
            lambda: run(1, 'predict'), device, steps, max(args.warmup, 1))
        result.setdefault('peak_bytes', peak_bytes(device))
    print('RESULT ' + json.dumps(result), flush=True)


def pair_worker(args):
    """Alternate training steps of each RCL model and its base; RESULT."""
    device = torch.device(args.device)
    params = setting_params(args, args.setting)
    inputs, samples = make_batch(args.batch, params, device)
    pairs = []
    # A base shared by several pairs is built (and warmed up) once.
    steps = {}
    for base, model_name in PAIRS:
        if not {base, model_name} <= set(args.models):
            continue
        for name in (base, model_name):
            if name in steps:
                continue
            model = build_model(name, params).to(device).train()
            steps[name] = training_step(model, inputs, samples, args,
                                        device)
            for _ in range(max(args.warmup, 1)):
                steps[name]()
        times = {base: [], model_name: []}
        for round_index in range(args.pair_rounds):
            order = (base, model_name) if round_index % 2 == 0 else \
                (model_name, base)
            for name in order:
                sync(device)
                tic = time.perf_counter()
                steps[name]()
                sync(device)
                times[name].append(time.perf_counter() - tic)
        ratios = sorted(m / b for m, b in zip(times[model_name],
                                               times[base]))
        pairs.append(dict(
            base=base, model=model_name, rounds=args.pair_rounds,
            base_median_s=statistics.median(times[base]),
            model_median_s=statistics.median(times[model_name]),
            ratio_median=statistics.median(ratios),
            ratio_q25=float(np.quantile(ratios, 0.25)),
            ratio_q75=float(np.quantile(ratios, 0.75))))
    print('RESULT ' + json.dumps(dict(setting=args.setting, pairs=pairs)),
          flush=True)


# ------------------------------------------------------ post-processing --
def mmaction2_post(maps, params):
    """mmaction2's ``BMN.predict`` after its forward, on given maps
    (batch 1): the predict method bound to a stand-in that returns them."""
    import types

    MMBMN = mmaction2_bmn_class()
    from mmaction.structures import ActionDataSample
    start, end, conf = maps
    stand_in = types.SimpleNamespace(
        tscale=params['temporal_dim'],
        soft_nms_alpha=params['soft_nms_alpha'],
        soft_nms_low_threshold=params['soft_nms_low_threshold'],
        soft_nms_high_threshold=params['soft_nms_high_threshold'],
        post_process_top_k=params['top_k'],
        feature_extraction_interval=16,
        _forward=lambda _: (conf, start, end))
    sample = ActionDataSample()
    sample.set_metainfo(dict(video_name='v_bench', duration_second=120.0,
                             duration_frame=3600, feature_frame=3584))
    return MMBMN.predict(stand_in, None, [sample])


def windowed_post_process(maps, windows, params, soft_nms_impl='torch'):
    """THUMOS14 post-processing of whole videos made of windows.

    Candidates of every window, each window's ``window_top_k`` best in
    video seconds, then Soft-NMS + top-k over each video's merged windows,
    as the windowed localizers and ``TADMetric`` do it.

    Args:
        maps (tuple[Tensor]): start, end (V * W, T) and confidence map
            (V * W, 2, D, T) of V videos of W windows, video-major.
        windows (int): W.
        params (dict): The setting.
        soft_nms_impl (str): ``'torch'`` or ``'triton'``.

    Returns:
        list[Tensor]: V tensors (M_v, 3): start, end (seconds), score.
    """
    from rcl_mm.models.task_modules import (bmn_candidates,
                                            merge_window_proposals,
                                            window_proposals)
    num = maps[0].shape[0]
    first = (torch.arange(num) % windows) * params['window_stride']
    dets = window_proposals(
        *bmn_candidates(*maps), first, torch.full((num, ),
                                                  params['temporal_dim']),
        params['temporal_dim'], torch.full((num, ),
                                           params['snippet_seconds']),
        params['window_top_k'])
    videos = [torch.cat(dets[v:v + windows]) for v in range(0, num, windows)]
    return merge_window_proposals(
        videos, params['soft_nms_alpha'], params['soft_nms_low_threshold'],
        params['soft_nms_high_threshold'], params['top_k'],
        soft_nms_impl=soft_nms_impl)


def post_worker(args):
    """Candidate selection + Soft-NMS + top-k per video; RESULT line.

    ActivityNet: one map per video. THUMOS14: ``windows_per_video`` maps
    per video, merged (:func:`windowed_post_process`).
    """
    from rcl_mm.models.task_modules import bmn_candidates, bmn_post_process
    from rcl_mm.testing import noise_maps, smooth_maps
    device = torch.device(args.device)
    params = setting_params(args, args.setting)
    num_t, num_d = params['temporal_dim'], params['duration_dim']
    gen = torch.Generator().manual_seed(0)
    nms = (params['soft_nms_alpha'], params['soft_nms_low_threshold'],
           params['soft_nms_high_threshold'], params['top_k'])
    repeats = max(1, args.steps)
    windows = params.get('windows_per_video', 1)
    result = dict(setting=args.setting, maps=args.post_batches,
                  repeats=repeats, windows_per_video=windows)
    for kind, make in (('smooth', smooth_maps), ('noise', noise_maps)):
        for batch in sorted({1, args.batch}):
            data = [[x.to(device)
                     for x in make(batch * windows, num_t, num_d, gen)]
                    for _ in range(args.post_batches)]
            durations = torch.full((batch, ), 120.0)

            def run(maps):
                if windows > 1:
                    windowed_post_process(maps, windows, params,
                                          args.soft_nms_impl)
                else:
                    bmn_post_process(*maps, durations, *nms,
                                     soft_nms_impl=args.soft_nms_impl)
                sync(device)

            run(data[0])  # warm-up
            # Each call timed alone, median over calls: robust to other
            # processes sharing the CPU.
            times = []
            for _ in range(repeats):
                for maps in data:
                    tic = time.perf_counter()
                    run(maps)
                    times.append(time.perf_counter() - tic)
            result[f'{kind}_b{batch}_ms_per_video'] = \
                statistics.median(times) * 1e3 / batch
            result[f'{kind}_candidates_per_window'] = sum(
                int(bmn_candidates(*d)[2].sum()) for d in data) / (
                    len(data) * batch * windows)
        if 'mmaction2' in args.models and num_d == num_t and windows == 1:
            data = [make(1, num_t, num_d, gen)
                    for _ in range(args.post_batches)]
            mmaction2_post(data[0], params)
            times = []
            for maps in data:
                tic = time.perf_counter()
                mmaction2_post(maps, params)
                times.append(time.perf_counter() - tic)
            result[f'mmaction2_{kind}_b1_ms_per_video'] = \
                statistics.median(times) * 1e3
    print('RESULT ' + json.dumps(result), flush=True)


# -------------------------------------------------------------- CARAlign --
def op_cases(args, params):
    """CARAlign at the setting (float32, bf16, batch 1 and --batch) and
    the dense mask + conv3d it replaces (batch 1)."""
    cases = [dict(impl='car', batch=args.batch, dtype='float32'),
             dict(impl='car', batch=args.batch, dtype='bfloat16'),
             dict(impl='car', batch=1, dtype='float32'),
             dict(impl='car_dense', batch=args.batch, dtype='float32'),
             dict(impl='dense', batch=1, dtype='float32')]
    if torch.device(args.device).type == 'cuda':
        # CARAlign's matrix-product path is meant for GPUs' matrix units;
        # its Triton kernels for GPUs only (where triton is installed).
        gpu_cases = [dict(impl='car_dense', batch=args.batch,
                          dtype='bfloat16')]
        if triton_available():
            gpu_cases += [
                dict(impl='car_triton', batch=args.batch, dtype=dtype)
                for dtype in ('float32', 'bfloat16')
            ]
        cases[4:4] = gpu_cases
    channels, out = (16, 32) if args.tiny else (256, 512)
    for case in cases:
        case.update(channels=channels, out=out, bins=32, points=3,
                    temporal_dim=params['temporal_dim'],
                    duration_dim=params['duration_dim'])
    return cases


# Op cases of CARAlign and the impl each runs.
CAR_IMPLS = dict(car='gather', car_dense='dense', car_triton='triton')


def dense_mask(index, weight, temporal_dim, flat_index, max_duration):
    """mmaction2's ``sample_mask`` layout, T x (N * D * T), from a plan."""
    num_segments, num_bins, _ = index.shape
    mask = torch.zeros(temporal_dim, num_bins, max_duration * temporal_dim)
    cols = flat_index[:, None, None].expand_as(index)
    bins = torch.arange(num_bins)[None, :, None].expand_as(index)
    mask.index_put_((index, bins, cols), weight, accumulate=True)
    return mask.view(temporal_dim, -1)


def op_worker(args):
    """Forward + backward of one CARAlign case; RESULT line."""
    import torch.nn.functional as F

    from rcl_mm.ops import (bmn_grid_segments, car_align_sampling,
                            car_align_with_sampling)
    case = json.loads(args.worker[len('op:'):])
    device = torch.device(args.device)
    torch.manual_seed(0)
    dtype = getattr(torch, case['dtype'])
    t, d, n = case['temporal_dim'], case['duration_dim'], case['bins']
    b, c, o = case['batch'], case['channels'], case['out']
    segments, flat_index = bmn_grid_segments(t, d)
    index, weight = car_align_sampling(segments, t, n, case['points'])
    x = torch.randn(b, c, t, dtype=dtype, device=device, requires_grad=True)
    proj = (torch.randn(o, c, n, dtype=dtype, device=device) *
            0.01).requires_grad_()
    if case['impl'] in CAR_IMPLS:
        index, weight = index.to(device), weight.to(device)
        impl = CAR_IMPLS[case['impl']]

        def step():
            out = car_align_with_sampling(x, index, weight, proj, impl=impl)
            out.float().sum().backward()
    else:
        mask = dense_mask(index, weight, t, flat_index, d).to(device, dtype)
        flat_index = flat_index.to(device)

        def step():
            bm = torch.matmul(x, mask).view(b, c, n, d, t)
            out = F.conv3d(bm, proj[..., None, None]).flatten(2)
            out[..., flat_index].float().sum().backward()

    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    base = peak_bytes(device)
    # The first call alone: its peak above the base is the step's memory.
    step()
    extra = peak_bytes(device) - base
    seconds = timed(step, device, max(1, args.steps), args.warmup)
    print('RESULT ' + json.dumps(dict(
        case, num_segments=int(segments.size(0)), fwd_bwd_s=seconds,
        extra_bytes=extra)), flush=True)


# ------------------------------------------------------------ evaluation --
def synthetic_predictions(database, num_videos, per_video, seed=0):
    """Labelled predictions around the real validation ground truth.

    Of each video's ``per_video`` predictions, 80% jitter one of its
    instances (start and end moved by N(0, 0.15) x length, swapped where
    they cross; the right label 80% of the time), the rest are random
    segments with random labels; scores have 6 decimals.

    Args:
        database (dict): The official ActivityNet ``database``.
        num_videos (int | None): First N validation videos (all if None).
        per_video (int): Predictions per video.
        seed (int): Seed of the generator.

    Returns:
        dict: ``{video_id: [{'label', 'score', 'segment'}, ...]}``.
    """
    rng = np.random.default_rng(seed)
    videos = [(vid, v) for vid, v in database.items()
              if v['subset'] == 'validation'][:num_videos]
    labels = sorted({a['label'] for _, v in videos
                     for a in v['annotations']})
    results = {}
    for vid, video in videos:
        anns = video['annotations']
        duration = float(video.get('duration') or 200.0)
        # Everything of a video drawn at once (vectorised per video).
        jitter = rng.random(per_video) < (0.8 if anns else 0.0)
        ann_idx = rng.integers(max(len(anns), 1), size=per_video)
        seg = np.array([a['segment'] for a in anns], dtype=float).reshape(
            -1, 2)
        noise = rng.normal(0, 0.15, (per_video, 2))
        rand = np.sort(rng.uniform(0, duration, (per_video, 2)), axis=1)
        keep_label = rng.random(per_video) < 0.8
        other = rng.integers(len(labels), size=per_video)
        scores = np.round(rng.random(per_video), 6)
        dets = []
        for i in range(per_video):
            if jitter[i]:
                s, e = seg[ann_idx[i]]
                length = max(e - s, 1.0)
                s, e = s + noise[i, 0] * length, e + noise[i, 1] * length
                label = (anns[ann_idx[i]]['label']
                         if keep_label[i] else labels[other[i]])
            else:
                s, e = rand[i]
                label = labels[other[i]]
            # Inside the video; jitter may cross the ends, and the readers
            # refuse reversed segments.
            s, e = sorted(min(max(x, 0.0), duration) for x in (s, e))
            dets.append(dict(label=label, score=float(scores[i]),
                             segment=[round(s, 2), round(e, 2)]))
        results[vid] = dets
    return results


def mmaction2_layout(database, video_ids):
    """The ground truth as mmaction2's evaluator reads it."""
    return {
        f'v_{vid}': dict(duration_second=database[vid]['duration'],
                         annotations=database[vid]['annotations'])
        for vid in video_ids
    }


# Run as its own interpreter so that its imports (torch through mmcv and
# mmengine) are timed as a user of mmaction2's evaluator pays them.
MMACTION2_EVAL = """
import json, sys, time
tic = time.perf_counter()
import numpy as np
from mmaction.evaluation.functional import ActivityNetLocalization
import_s = time.perf_counter() - tic
tic = time.perf_counter()
_, average_map = ActivityNetLocalization(
    sys.argv[1], sys.argv[2],
    tiou_thresholds=np.linspace(0.5, 0.95, 10)).evaluate()
print('RESULT ' + json.dumps(dict(
    import_s=import_s, evaluate_s=time.perf_counter() - tic,
    average_mAP=float(average_map))))
"""


def run_eval(args, scratch):
    """Write the prediction file; time both evaluators in subprocesses."""
    if not osp.isfile(args.gt):
        print(f'eval: skipped, no ground truth at {args.gt} (give the '
              'official activity_net_v1-3_gt.json with --gt)')
        return dict(skipped=f'no ground truth at {args.gt}')
    with open(args.gt) as f:
        database = json.load(f)['database']
    preds = synthetic_predictions(database, args.eval_videos,
                                  args.eval_per_video)
    pred_file = osp.join(scratch, 'pred.json')
    with open(pred_file, 'w') as f:
        json.dump(dict(version='VERSION 1.3', results=preds,
                       external_data={}), f)
    with open(osp.join(scratch, 'gt_mmaction2.json'), 'w') as f:
        json.dump(mmaction2_layout(database, preds), f)
    gt_file = args.gt
    if args.eval_videos:
        # Only the videos predicted: otherwise the missed ones count.
        gt_file = osp.join(scratch, 'gt_subset.json')
        with open(gt_file, 'w') as f:
            json.dump(dict(database={v: database[v] for v in preds}), f)
    result = dict(videos=len(preds),
                  predictions=sum(len(p) for p in preds.values()),
                  file_bytes=os.path.getsize(pred_file))
    times = []
    metrics_file = osp.join(scratch, 'metrics.json')
    for _ in range(args.eval_repeats):
        cmd = [sys.executable,
               osp.join(ROOT, 'tools', 'analysis', 'eval_detection.py'),
               gt_file, pred_file, '--out', metrics_file]
        tic = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        times.append(time.perf_counter() - tic)
        if proc.returncode:
            sys.exit(f'eval_detection.py failed:\n{proc.stderr}')
    with open(metrics_file) as f:
        ours = json.load(f)
    result.update(ours_wall_s=statistics.median(times), ours_runs=times,
                  ours_average_mAP=ours.get('average_mAP'))
    if 'mmaction2' in args.models:
        print('running mmaction2 ActivityNetLocalization ...', flush=True)
        cmd = [sys.executable, '-c', MMACTION2_EVAL,
               osp.join(scratch, 'gt_mmaction2.json'), pred_file]
        tic = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - tic
        lines = [ln for ln in proc.stdout.splitlines()
                 if ln.startswith('RESULT ')]
        if proc.returncode or not lines:
            sys.exit('mmaction2 evaluation failed:\n' + proc.stderr[-4000:])
        mm = json.loads(lines[-1][len('RESULT '):])
        result.update(mmaction2_wall_s=wall,
                      mmaction2_import_s=mm['import_s'],
                      mmaction2_evaluate_s=mm['evaluate_s'],
                      mmaction2_average_mAP=mm['average_mAP'])
    return result


# ------------------------------------------------------------------ demo --
def demo_worker(args):
    """The Runner's test loop over the demo validation split."""
    from mmengine.runner import Runner

    from rcl_mm.utils.launch import prepare_config
    name = args.worker[len('demo:'):]
    checkpoints = dict(c.split('=', 1) for c in args.demo_checkpoint)
    # Paths in the demo configs are relative to the repository root, the
    # working directory of every worker.
    cfg = prepare_config(osp.join(ROOT, DEMO_CONFIGS[name]),
                         osp.join(args.scratch, f'demo_{name}'))
    if args.demo_videos:
        cfg.test_dataloader.dataset.indices = args.demo_videos
    cfg.load_from = checkpoints.get(name)
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    tic = time.perf_counter()
    metrics = runner.test()
    seconds = time.perf_counter() - tic
    videos = len(runner.test_dataloader.dataset)
    print('RESULT ' + json.dumps(dict(
        model=name, checkpoint=cfg.load_from, videos=videos,
        test_s=seconds, s_per_video=seconds / max(videos, 1),
        metrics={k: float(v) for k, v in metrics.items()})), flush=True)


def demo_missing():
    """Why the demo part cannot run, or None."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, DEMO_CONFIGS['bmn']))
    dataset = cfg.test_dataloader.dataset
    for path in (dataset.ann_file, dataset.data_prefix.video):
        if not osp.exists(osp.join(ROOT, path)):
            return (f'{path} is missing; write the demo data with '
                    '`python tools/data/synthesize.py` (docs/demo_data.md)')
    return None


# ---------------------------------------------------------------- parent --
def run_worker(args, worker, setting, scratch, failures):
    """Run one measurement in a fresh process; return its RESULT dict,
    or None after appending what went wrong to ``failures`` (a worker
    killed for memory must not lose the rest of a long run)."""
    cmd = [sys.executable, osp.abspath(__file__), '--worker', worker,
           '--parts', ','.join(args.parts), '--models',
           ','.join(args.models), '--device', args.device, '--amp', args.amp,
           '--batch', str(args.batch), '--steps', str(args.steps),
           '--warmup', str(args.warmup), '--post-batches',
           str(args.post_batches), '--soft-nms-impl', args.soft_nms_impl]
    if setting:
        cmd += ['--setting', setting]
    if scratch:
        cmd += ['--scratch', scratch]
    cmd += ['--pair-rounds', str(args.pair_rounds)]
    for flag in ('threads', 'mmaction2_steps', 'temporal_dim',
                 'duration_dim', 'feat_dim', 'demo_videos'):
        if getattr(args, flag) is not None:
            cmd += ['--' + flag.replace('_', '-'), str(getattr(args, flag))]
    if args.tiny:
        cmd.append('--tiny')
    if args.reuse_freed_memory:
        cmd.append('--reuse-freed-memory')
    for checkpoint in args.demo_checkpoint:
        cmd += ['--demo-checkpoint', checkpoint]
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [ROOT] + [p for p in [env.get('PYTHONPATH')] if p])
    if args.threads:
        env['OMP_NUM_THREADS'] = str(args.threads)
    if torch.device(args.device).type == 'cpu':
        # The Runner (demo part) would otherwise take a visible GPU.
        env['CUDA_VISIBLE_DEVICES'] = ''
    print(f'running {worker}' + (f' ({setting})' if setting else '') +
          ' ...', flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env,
                          cwd=ROOT)
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
    print(f'result {worker}' + (f' ({setting})' if setting else '') +
          ': ' + json.dumps(result), flush=True)
    return result


def derive(rows, post, device_type, paired=None):
    """Ratios and target verdicts of the model rows (in place).

    Args:
        rows (list[dict]): One dict per (setting, model) with the worker's
            measurements.
        post (dict): Post-processing results by setting.
        device_type (str): ``'cpu'`` or ``'cuda'``: which targets apply.
        paired (dict, optional): The pair part's results by setting (lists
            of dicts with ``model`` and ``ratio_median``). Where a model
            has one, its ``train_ratio_vs_bmn`` target is judged on it
            (the separate runs' ratio stays in its row).

    Returns:
        list[dict]: Target verdicts: name, setting, model, value, bound,
        passed.
    """
    by_key = {(r['setting'], r['model']): r for r in rows}
    for row in rows:
        mm = by_key.get((row['setting'], 'mmaction2'))
        bmn = by_key.get((row['setting'], 'bmn'))
        if mm and row['model'] != 'mmaction2':
            if 'train_step_s' in row and 'train_step_s' in mm:
                row['train_speedup_vs_mmaction2'] = (
                    mm['train_step_s'] / row['train_step_s'])
            if 'peak_bytes' in row and 'peak_bytes' in mm and \
                    'train_step_s' in mm:
                row['peak_ratio_vs_mmaction2'] = (
                    row['peak_bytes'] / mm['peak_bytes'])
        if bmn and row['model'] not in ('mmaction2', 'bmn') and \
                'train_step_s' in row and 'train_step_s' in bmn:
            row['train_ratio_vs_bmn'] = (
                row['train_step_s'] / bmn['train_step_s'])
    paired_ratio = {(setting, p['model']): p['ratio_median']
                    for setting, pairs in (paired or {}).items()
                    for p in pairs}
    verdicts = []
    for name, setting, device, model, key, bound, how in TARGETS:
        row = by_key.get((setting, model))
        if device != device_type:
            continue
        if key == 'train_ratio_vs_bmn' and (setting, model) in paired_ratio:
            value = paired_ratio[(setting, model)]
            if row is None:
                row = dict(setting=setting, model=model)
            name += ' (paired)'
        elif row is None or key not in row:
            continue
        else:
            value = row[key]
        passed = value >= bound if how == 'min' else value <= bound
        # The speed target is at equal outputs.
        if key == 'train_speedup_vs_mmaction2' and not row.get(
                'equal_outputs', False):
            passed = False
        row.setdefault('targets', []).append(
            f'{name}: {"PASS" if passed else "FAIL"}')
        verdicts.append(dict(target=name, setting=setting, model=model,
                             value=value, bound=bound, passed=passed))
    name, setting, device, bound = POST_TARGET
    if device == device_type and setting in post:
        value = max(v for k, v in post[setting].items()
                    if k.endswith('_b1_ms_per_video')
                    and not k.startswith('mmaction2'))
        verdicts.append(dict(target=name, setting=setting,
                             model='post-processing', value=value,
                             bound=bound, passed=value <= bound))
    return verdicts


def format_tables(rows, post, ops, evaluation, demo, batch, paired=None):
    """The printed tables, one string."""
    def num(value, fmt, scale=1.0):
        return '-' if value is None else format(value * scale, fmt)

    tables = []
    if paired:
        table = [['setting', 'base', 'model', 'rounds', 'base s/step',
                  'model s/step', 'step ratio median [q25, q75]']]
        for setting, pairs in paired.items():
            for p in pairs:
                table.append([
                    setting, p['base'], p['model'], p['rounds'],
                    f'{p["base_median_s"]:.4f}',
                    f'{p["model_median_s"]:.4f}',
                    f'{p["ratio_median"]:.3f} [{p["ratio_q25"]:.3f}, '
                    f'{p["ratio_q75"]:.3f}]'
                ])
        tables.append(AsciiTable(
            table, f' paired training steps, batch {batch} ').table)
    if rows:
        table = [['setting', 'model', 'train s/step', 'peak GiB',
                  'infer b1 s', f'infer b{batch} s', '1 video s',
                  'post ms/video', 'vs mmaction2\nspeed-up / mem',
                  'vs our BMN\nstep ratio',
                  'targets']]
        for r in rows:
            p = post.get(r['setting'], {})
            if r['model'] == 'mmaction2':
                smooth = p.get('mmaction2_smooth_b1_ms_per_video')
                noise = p.get('mmaction2_noise_b1_ms_per_video')
            else:
                smooth = p.get('smooth_b1_ms_per_video')
                noise = p.get('noise_b1_ms_per_video')
            vs_mm = ''
            if 'train_speedup_vs_mmaction2' in r:
                vs_mm = f'{r["train_speedup_vs_mmaction2"]:.1f}x'
                if 'peak_ratio_vs_mmaction2' in r:
                    vs_mm += f' / {r["peak_ratio_vs_mmaction2"]:.3f}'
            table.append([
                r['setting'], r['model'], num(r.get('train_step_s'), '.4f'),
                num(r.get('peak_bytes'), '.2f', 1 / GIB),
                num(r.get('infer_batch1_s'), '.4f'),
                num(r.get(f'infer_batch{batch}_s'), '.4f'),
                num(r.get('predict_one_video_s'), '.4f'),
                '-' if smooth is None else
                f'{smooth:.2f} / {num(noise, ".2f")}', vs_mm,
                num(r.get('train_ratio_vs_bmn'), '.2f') +
                ('x' if 'train_ratio_vs_bmn' in r else ''),
                '\n'.join(r.get('targets', []))
            ])
        tables.append(AsciiTable(
            table, f' models, batch {batch} (post: smooth / noise maps, '
            'batch 1) ').table)
    if post:
        table = [['setting', 'windows/video', 'maps', 'candidates/window',
                  'ms/video b1', f'ms/video b{batch}',
                  'mmaction2 ms/video b1']]
        for setting, p in post.items():
            for kind in ('smooth', 'noise'):
                table.append([
                    setting, p['windows_per_video'], kind,
                    f'{p[kind + "_candidates_per_window"]:.0f}',
                    num(p.get(f'{kind}_b1_ms_per_video'), '.2f'),
                    num(p.get(f'{kind}_b{batch}_ms_per_video'), '.2f'),
                    num(p.get(f'mmaction2_{kind}_b1_ms_per_video'), '.2f')
                ])
        tables.append(AsciiTable(
            table, ' candidate selection + Soft-NMS + top-k ').table)
    if ops:
        table = [['setting', 'impl', 'dtype', 'B', 'T', 'D', 'fwd+bwd s',
                  'extra MiB']]
        for o in ops:
            table.append([o['setting'], o['impl'], o['dtype'], o['batch'],
                          o['temporal_dim'], o['duration_dim'],
                          f'{o["fwd_bwd_s"]:.4f}',
                          f'{o["extra_bytes"] / 2**20:.0f}'])
        tables.append(AsciiTable(
            table, ' CARAlign vs dense mask + conv3d ').table)
    if evaluation and 'skipped' not in evaluation:
        e = evaluation
        table = [['evaluator', 'wall s', 'average mAP'],
                 ['eval_detection.py (median)', f'{e["ours_wall_s"]:.2f}',
                  num(e.get('ours_average_mAP'), '.6f')]]
        if 'mmaction2_wall_s' in e:
            table.append([
                'mmaction2 ActivityNetLocalization',
                f'{e["mmaction2_wall_s"]:.2f} (import '
                f'{e["mmaction2_import_s"]:.2f}, evaluate '
                f'{e["mmaction2_evaluate_s"]:.2f})',
                f'{e["mmaction2_average_mAP"]:.6f}'])
        tables.append(AsciiTable(
            table, f' detection mAP of {e["predictions"]} predictions, '
            f'{e["videos"]} videos ').table)
    if demo:
        table = [['model', 'videos', 'test loop s', 's/video', 'weights']]
        for d in demo:
            table.append([d['model'], d['videos'], f'{d["test_s"]:.2f}',
                          f'{d["s_per_video"]:.4f}',
                          d['checkpoint'] or 'seeded'])
        tables.append(AsciiTable(table, ' demo validation split ').table)
    return '\n'.join(tables)


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        if args.threads:
            torch.set_num_threads(args.threads)
        if (args.reuse_freed_memory
                and torch.device(args.device).type == 'cpu'):
            from rcl_mm.utils import reuse_freed_memory
            if not reuse_freed_memory():
                sys.exit('--reuse-freed-memory: not a glibc process')
        if args.worker.startswith('op:'):
            op_worker(args)
        elif args.worker.startswith('demo:'):
            demo_worker(args)
        elif args.worker == 'post':
            post_worker(args)
        elif args.worker == 'pair':
            pair_worker(args)
        else:
            model_worker(args)
        return
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        sys.exit('--device cuda: no CUDA device is available here')
    report = dict(
        command=' '.join(shlex.quote(a) for a in (
            sys.argv if argv is None else
            [osp.relpath(osp.abspath(__file__), ROOT)] + list(argv))),
        date=datetime.now(timezone.utc).isoformat(timespec='seconds'),
        machine=dict(machine_info(device),
                     torch_threads=args.threads or torch.get_num_threads()),
        options={k: v for k, v in vars(args).items()
                 if k not in ('worker', 'setting', 'scratch')},
        settings={s: setting_params(args, s) for s in args.settings})
    rows, post, ops, demo, evaluation, paired = [], {}, [], [], None, {}
    failures = []

    def save(partial=True):
        """Put what was measured so far into the report; write --out."""
        report.update(models=rows, paired=paired, post_processing=post,
                      car_align=ops,
                      evaluation=evaluation, demo=demo, failures=failures,
                      partial=partial)
        if args.out:
            from rcl_mm.utils.io import atomic_write
            with atomic_write(args.out) as f:
                json.dump(report, f, indent=2)

    with tempfile.TemporaryDirectory(prefix='rcl_mm_benchmark_') as scratch:
        for setting in args.settings:
            params = setting_params(args, setting)
            same_grid = params['duration_dim'] == params['temporal_dim']
            if {'train', 'infer'} & set(args.parts):
                for model in args.models:
                    if model == 'mmaction2' and setting == 'thumos' and \
                            not args.mmaction2_thumos:
                        print('mmaction2 (thumos): not run; '
                              '--mmaction2-thumos runs it')
                        continue
                    # Outputs are compared where both BMNs have one grid.
                    compare = (same_grid and model in ('mmaction2', 'bmn')
                               and {'mmaction2', 'bmn'} <= set(args.models))
                    row = run_worker(args, model, setting,
                                     scratch if compare else None, failures)
                    if row is not None:
                        rows.append(row)
                        save()
                if all(osp.isfile(osp.join(scratch, f'{m}.pt'))
                       for m in ('mmaction2', 'bmn')):
                    errors = output_errors(scratch)
                    for row in rows:
                        if row['setting'] == setting and \
                                row['model'] == 'bmn':
                            row['max_relative_error'] = errors
                            row['equal_outputs'] = max(
                                errors.values()) < 1e-5
            if 'pair' in args.parts and any(
                    set(pair) <= set(args.models) for pair in PAIRS):
                result = run_worker(args, 'pair', setting, None, failures)
                if result is not None:
                    paired[setting] = result['pairs']
                    save()
            if 'post' in args.parts:
                result = run_worker(args, 'post', setting, None, failures)
                if result is not None:
                    post[setting] = result
                    save()
            if 'op' in args.parts:
                for case in op_cases(args, params):
                    result = run_worker(args, 'op:' + json.dumps(case),
                                        setting, None, failures)
                    if result is not None:
                        ops.append(dict(result, setting=setting))
                        save()
        if 'eval' in args.parts:
            evaluation = run_eval(args, scratch)
            save()
        if 'demo' in args.parts:
            missing = demo_missing()
            if missing:
                print(f'demo: skipped, {missing}')
                demo = [dict(skipped=missing)]
            else:
                for model in args.models:
                    if model in DEMO_CONFIGS:
                        result = run_worker(args, 'demo:' + model, None,
                                            scratch, failures)
                        if result is not None:
                            demo.append(result)
                            save()
    verdicts = derive(rows, post, device.type, paired)
    demo_rows = [d for d in demo if 'skipped' not in d]
    print(format_tables(rows, post, ops, evaluation, demo_rows, args.batch,
                        paired))
    for row in rows:
        if 'max_relative_error' in row:
            print(f'{row["setting"]}: max relative error of our BMN vs '
                  'mmaction2 (same weights): ' + ', '.join(
                      f'{k} {v:.2e}'
                      for k, v in row['max_relative_error'].items()))
    for v in verdicts:
        print(f'target {v["setting"]} {v["model"]} {v["target"]}: '
              f'{v["value"]:.4g} -> {"PASS" if v["passed"] else "FAIL"}')
    m = report['machine']
    print(f'{m["device_name"]}, {m["cpus_usable"]} CPUs usable, torch '
          f'{m["torch"]}, {m["torch_threads"]} threads, '
          f'amp {args.amp}, '
          + ('freed memory reused, '
             if args.reuse_freed_memory and device.type == 'cpu' else '')
          + report['date'])
    report['targets'] = verdicts
    for failure in failures:
        print(f'FAILED: {failure["worker"]} ({failure["setting"]}), exit '
              f'{failure["exit"]}; its rows are missing')
    save(partial=False)
    return report


def output_errors(scratch):
    """Max relative error of our BMN's outputs against mmaction2's."""
    ref = torch.load(osp.join(scratch, 'mmaction2.pt'))
    ours = torch.load(osp.join(scratch, 'bmn.pt'))
    errors = {}
    for key, a, b in zip(('confidence_map', 'start', 'end'), ours, ref):
        errors[key] = float((a - b).abs().max() /
                            b.abs().max().clamp(min=1e-12))
    # The next setting writes its own.
    for name in ('mmaction2', 'bmn'):
        os.remove(osp.join(scratch, f'{name}.pt'))
    return errors


def _run():
    report = main()
    return 1 if report and report['failures'] else 0


if __name__ == '__main__':
    sys.exit(run_tool(_run))
