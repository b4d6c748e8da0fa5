# Copyright (c) rcl_mm contributors. All rights reserved.
"""The benchmark's measurements: each returns a dict of numbers.

Each runs in a fresh worker process (:mod:`.worker`), so that its peak
memory is its own; called in-process they give the same numbers.
"""
import os
import os.path as osp
import statistics
import time
from contextlib import nullcontext
from typing import Optional

import numpy as np
import torch

from rcl_mm.ops.triton_utils import triton_available
from .config import DEMO_CONFIGS, PAIRS, ROOT, setting_params
from .models import build_model, make_batch, mmaction2_bmn_class, training_step
from .timing import autocast, peak_bytes, sync, timed


def measure_model(args, name: str, setting: str,
                  scratch: Optional[str] = None) -> dict:
    """Train / infer one model at one setting (the ``train`` and ``infer``
    parts).

    Args:
        args (argparse.Namespace): The options.
        name (str): A model of ``MODELS``.
        setting (str): A key of ``SETTINGS``.
        scratch (str, optional): Save the float32 outputs of the seeded
            weights there as ``<name>.pt`` (:func:`output_errors`).

    Returns:
        dict: Seconds per step / call, bytes, parameters.
    """
    device = torch.device(args.device)
    params = setting_params(args, setting)
    model = build_model(name, params, args.soft_nms_impl).to(device)
    inputs, samples = make_batch(args.batch, params, device)
    steps = args.steps
    if name == 'mmaction2' and args.mmaction2_steps:
        steps = min(steps, args.mmaction2_steps)
    result = dict(model=name, setting=setting, steps=steps,
                  # Trainable only: mmaction2 keeps its sampling mask as a
                  # frozen parameter.
                  num_parameters=sum(p.numel() for p in model.parameters()
                                     if p.requires_grad))
    if scratch:
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
                   osp.join(scratch, f'{name}.pt'))
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
            name != 'mmaction2'

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
    return result


def measure_pairs(args, setting: str) -> dict:
    """Alternate training steps of each RCL model and its base (the
    ``pair`` part): per pair, the median of the per-round step ratios.

    Returns:
        dict: ``setting`` and ``pairs``, one dict per pair of ``PAIRS``
        whose models are both in ``args.models``.
    """
    device = torch.device(args.device)
    params = setting_params(args, setting)
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
        ratios = sorted(
            m / b for m, b in zip(times[model_name], times[base]))
        pairs.append(dict(
            base=base, model=model_name, rounds=args.pair_rounds,
            base_median_s=statistics.median(times[base]),
            model_median_s=statistics.median(times[model_name]),
            ratio_median=statistics.median(ratios),
            ratio_q25=float(np.quantile(ratios, 0.25)),
            ratio_q75=float(np.quantile(ratios, 0.75))))
    return dict(setting=setting, pairs=pairs)


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


def windowed_post_process(maps, windows, params, soft_nms_impl='auto'):
    """THUMOS14 post-processing of whole videos made of windows.

    Candidates of every window, each window's ``window_top_k`` best in
    video seconds, then Soft-NMS + top-k over each video's merged windows,
    as the windowed localizers and ``TADMetric`` do it.

    Args:
        maps (tuple[Tensor]): start, end (V * W, T) and confidence map
            (V * W, 2, D, T) of V videos of W windows, video-major.
        windows (int): W.
        params (dict): The setting.
        soft_nms_impl (str): ``'auto'`` (``'triton'`` on CUDA where it
            imports), ``'torch'`` or ``'triton'``.

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


def measure_post(args, setting: str) -> dict:
    """Candidate selection + Soft-NMS + top-k per video (the ``post``
    part): milliseconds per video, median over calls.

    ActivityNet: one map per video. THUMOS14: ``windows_per_video`` maps
    per video, merged (:func:`windowed_post_process`).
    """
    from rcl_mm.models.task_modules import bmn_candidates, bmn_post_process
    from rcl_mm.testing import noise_maps, smooth_maps
    device = torch.device(args.device)
    params = setting_params(args, setting)
    num_t, num_d = params['temporal_dim'], params['duration_dim']
    gen = torch.Generator().manual_seed(0)
    nms = (params['soft_nms_alpha'], params['soft_nms_low_threshold'],
           params['soft_nms_high_threshold'], params['top_k'])
    repeats = max(1, args.steps)
    windows = params.get('windows_per_video', 1)
    result = dict(setting=setting, maps=args.post_batches,
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
    return result


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


def measure_op(args, case: dict) -> dict:
    """Forward + backward of one CARAlign case of :func:`op_cases` (the
    ``op`` part): seconds and the memory of the first call."""
    import torch.nn.functional as F

    from rcl_mm.ops import (bmn_grid_segments, car_align_sampling,
                            car_align_with_sampling)
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
    return dict(case, num_segments=int(segments.size(0)),
                fwd_bwd_s=seconds, extra_bytes=extra)


# --------------------------------------------------------------- extract --
def measure_extraction(args, config: str) -> dict:
    """Snippets per second of one extractor config (the ``extract``
    part): :func:`rcl_mm.apis.feature_extraction.
    measure_extraction_throughput` on random clips, random weights.

    Args:
        args (argparse.Namespace): The options (``device``,
            ``extract_snippets``, ``warmup``, ``threads``).
        config (str): An extractor config, relative to the repository root.

    Returns:
        dict: The function's result (``snippets_per_second``, ``seconds``,
        ``num_snippets``, ``batch_size``, ``clip_len``, ``crop_size``,
        ``feat_dim``, ``device``, ``torch_threads``) with ``config`` the
        repository-relative path and ``threads`` (``--threads``, or
        torch's count where unset).
    """
    from rcl_mm.apis.feature_extraction import measure_extraction_throughput
    # At least one warm-up batch: the first call pays cuDNN's and the
    # allocator's start-up.
    result = measure_extraction_throughput(
        osp.join(ROOT, config), args.device,
        num_snippets=args.extract_snippets, warmup=max(args.warmup, 1))
    return dict(result, config=config,
                threads=args.threads or torch.get_num_threads())


# ------------------------------------------------------------------ demo --
def measure_demo(args, name: str, scratch: str) -> dict:
    """The Runner's test loop over the demo validation split (the
    ``demo`` part), its work dir under ``scratch``."""
    from mmengine.runner import Runner

    from rcl_mm.utils.launch import prepare_config
    checkpoints = dict(c.split('=', 1) for c in args.demo_checkpoint)
    # Paths in the demo configs are relative to the repository root, the
    # working directory of every worker.
    cfg = prepare_config(osp.join(ROOT, DEMO_CONFIGS[name]),
                         osp.join(scratch, f'demo_{name}'))
    if args.demo_videos:
        cfg.test_dataloader.dataset.indices = args.demo_videos
    cfg.load_from = checkpoints.get(name)
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    tic = time.perf_counter()
    metrics = runner.test()
    seconds = time.perf_counter() - tic
    videos = len(runner.test_dataloader.dataset)
    return dict(
        model=name, checkpoint=cfg.load_from, videos=videos,
        test_s=seconds, s_per_video=seconds / max(videos, 1),
        metrics={k: float(v) for k, v in metrics.items()})


def demo_missing(root: str = ROOT, config: Optional[str] = None
                 ) -> Optional[str]:
    """Why the demo part cannot run, or None.

    Args:
        root (str): The repository, where the demo data would be.
        config (str, optional): The demo config whose data is looked for
            (default: BMN's under ``root``).
    """
    from mmengine.config import Config
    cfg = Config.fromfile(config or osp.join(root, DEMO_CONFIGS['bmn']))
    dataset = cfg.test_dataloader.dataset
    for path in (dataset.ann_file, dataset.data_prefix.video):
        if not osp.exists(osp.join(root, path)):
            return (f'{path} is missing; write the demo data with '
                    '`python tools/data/synthesize.py` (docs/demo_data.md)')
    return None


def output_errors(scratch: str) -> dict:
    """Max relative error of our BMN's outputs against mmaction2's (saved
    in ``scratch`` by :func:`measure_model`); removes both files."""
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
