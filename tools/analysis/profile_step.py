# Copyright (c) rcl_mm contributors. All rights reserved.
"""Where the time of a training step and of one video's prediction goes.

For each model (``--models``, at the ANet setting of the benchmark,
:mod:`rcl_mm.analysis.benchmark`: T = D = 100, 400-d input, batch
``--batch``) and each CARAlign impl (``--impls``), on a GPU:

- ``step_ms``: the training step (forward and loss under ``--amp``,
  backward, Adam), median of ``--steps`` steps timed alone with CUDA
  events, after ``--warmup`` steps;
- ``predict_ms``: one video's prediction (forward, candidates, Soft-NMS,
  top-k), with each Soft-NMS impl of ``--soft-nms-impls``;
- ``syncs_per_step``: host synchronisations in one step, and the lines of
  rcl_mm that cause them (``torch.cuda.set_sync_debug_mode``);
- ``profile``: ``torch.profiler`` over ``--profile-steps`` steps: the GPU's
  busy time against the wall time (a step whose GPU idles is bound by the
  host: kernel launches, Python, synchronisations), kernel launches per
  step, and the ops that take the most GPU and host time;
- ``cuda_graph``: whether the whole static-shape step (forward, loss,
  backward, ``Adam(capturable=True)``) captures as one CUDA graph, and the
  time of a replay if it does (what the step costs with no launch
  overhead); in a fresh process per run, since a failed capture leaves
  the CUDA context unusable.

Usage: python tools/analysis/profile_step.py [--models bmn,rcl_bmn]
       [--impls gather,dense,triton] [--amp bf16] [--out profile.json]
"""
import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time
import traceback
import warnings
from contextlib import nullcontext
from datetime import datetime, timezone

import torch

from rcl_mm.analysis import benchmark as bench

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(osp.dirname(HERE))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--models', default='bmn,rcl_bmn')
    parser.add_argument('--impls', default='gather,dense,triton',
                        help='CARAlign impls (backbone.car_align_impl)')
    parser.add_argument('--soft-nms-impls', default='torch,triton')
    parser.add_argument('--setting', default='anet', choices=['anet',
                                                              'thumos'])
    parser.add_argument('--device', default='cuda',
                        help='cuda; cpu only checks that every part runs')
    parser.add_argument('--tiny', action='store_true',
                        help="the benchmark's tiny sizes (checks, not "
                        'measurements)')
    parser.add_argument('--amp', choices=['none', 'bf16'], default='bf16')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--steps', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--profile-steps', type=int, default=5)
    parser.add_argument('--top', type=int, default=25,
                        help='rows of each profile table')
    parser.add_argument('--no-graph', action='store_true',
                        help='skip the CUDA-graph capture')
    parser.add_argument('--graph-only', action='store_true',
                        help=argparse.SUPPRESS)
    parser.add_argument('--env-only', action='store_true',
                        help='print and write the versions only')
    parser.add_argument('--out', help='write the report as JSON here')
    return parser.parse_args(argv)


def environment(device):
    """The device, its driver and the versions of the stack."""
    import platform
    info = dict(python=platform.python_version(), torch=torch.__version__,
                cuda=torch.version.cuda, device=platform.processor())
    if device.type == 'cuda':
        props = torch.cuda.get_device_properties(device)
        info.update(
            cudnn=torch.backends.cudnn.version(),
            device=torch.cuda.get_device_name(device),
            capability='.'.join(
                map(str, torch.cuda.get_device_capability(device))),
            memory_gib=round(props.total_memory / 2**30, 1),
            multiprocessors=props.multi_processor_count)
        try:
            import pynvml
            pynvml.nvmlInit()
            info['driver'] = pynvml.nvmlSystemGetDriverVersion()
        except Exception as error:  # noqa: BLE001 (optional)
            info['driver'] = f'unknown ({type(error).__name__})'
    for name in ('triton', 'numpy', 'mmengine', 'mmcv', 'mmaction',
                 'rcl_mm'):
        try:
            info[name] = __import__(name).__version__
        except Exception as error:  # noqa: BLE001 (reported)
            info[name] = f'not importable: {error}'
    return info


def autocast(amp, device_type='cuda', cache_enabled=True):
    if amp == 'none':
        return nullcontext()
    return torch.autocast(device_type, dtype=torch.bfloat16,
                          cache_enabled=cache_enabled)


class Timer:
    """Milliseconds of one call: CUDA events on a GPU, the host clock on
    the CPU (where this script only checks that every part runs)."""

    def __init__(self, device):
        self.cuda = device.type == 'cuda'

    def __enter__(self):
        if self.cuda:
            self.start = torch.cuda.Event(enable_timing=True)
            self.end = torch.cuda.Event(enable_timing=True)
            self.start.record()
        else:
            self.tic = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            self.end.record()
            self.end.synchronize()
            self.ms = self.start.elapsed_time(self.end)
        else:
            self.ms = (time.perf_counter() - self.tic) * 1e3


def event_times(fn, repeats, warmup, device):
    """Milliseconds of each of ``repeats`` calls of ``fn``, each timed
    alone, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    if device.type == 'cuda':
        torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        with Timer(device) as timer:
            fn()
        times.append(timer.ms)
    return times


def sync_sites(fn, device):
    """Host synchronisations of one call of ``fn``: their count and the
    innermost rcl_mm line of each (``torch.cuda.set_sync_debug_mode``);
    None on the CPU."""
    if device.type != 'cuda':
        return None
    sites = []

    def record(message, category, filename, lineno, file=None, line=None):
        if 'synchroniz' not in str(message):
            return
        ours = [f'{osp.relpath(f.filename, ROOT)}:{f.lineno} {f.name}'
                for f in traceback.extract_stack()
                if f.filename.startswith(osp.join(ROOT, 'rcl_mm'))]
        sites.append(ours[-1] if ours else f'{filename}:{lineno}')

    torch.cuda.synchronize()
    with warnings.catch_warnings():
        warnings.simplefilter('always')
        shown, warnings.showwarning = warnings.showwarning, record
        torch.cuda.set_sync_debug_mode('warn')
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode('default')
            warnings.showwarning = shown
    counts = {}
    for site in sites:
        counts[site] = counts.get(site, 0) + 1
    return dict(count=len(sites), sites=counts)


def device_us(row):
    """Self GPU time of a profiler row in microseconds, any torch."""
    for name in ('self_device_time_total', 'self_cuda_time_total'):
        if hasattr(row, name):
            return float(getattr(row, name))
    return 0.0


def profile(fn, steps, top, device):
    """GPU busy time, wall time, launches and top ops over ``steps``."""
    from torch.profiler import ProfilerActivity
    activities = [ProfilerActivity.CPU]
    if device.type == 'cuda':
        activities.append(ProfilerActivity.CUDA)
    fn()
    with torch.profiler.profile(activities=activities) as prof:
        with Timer(device) as timer:
            for _ in range(steps):
                fn()
    rows = prof.key_averages()
    kernels = [e for e in prof.events()
               if getattr(e, 'device_type', None) is not None
               and str(e.device_type).endswith('CUDA')]
    busy_us = sum(float(getattr(e, 'device_time', 0.0) or
                        getattr(e, 'cuda_time', 0.0)) for e in kernels)
    launches = sum(r.count for r in rows if 'LaunchKernel' in r.key
                   or r.key == 'cudaGraphLaunch')
    by_gpu = sorted(rows, key=device_us, reverse=True)[:top]
    by_cpu = sorted(rows, key=lambda r: r.self_cpu_time_total,
                    reverse=True)[:top]
    return dict(
        steps=steps,
        wall_ms_per_step=timer.ms / steps,
        gpu_busy_ms_per_step=busy_us / 1e3 / steps,
        kernels_per_step=len(kernels) / steps,
        launches_per_step=launches / steps,
        top_gpu=[dict(op=r.key, calls=r.count / steps,
                      gpu_us=device_us(r) / steps) for r in by_gpu],
        top_cpu=[dict(op=r.key, calls=r.count / steps,
                      cpu_us=r.self_cpu_time_total / steps)
                 for r in by_cpu],
        table=rows.table(
            sort_by='self_device_time_total' if device.type == 'cuda' else
            'self_cpu_time_total', row_limit=top))


def graph_step(model, inputs, samples, amp):
    """The whole training step captured as one CUDA graph, or the reason
    it cannot be: ``(replay, None)`` or ``(None, message)``."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4,
                                 capturable=True)

    def body():
        # Capture needs autocast's cast cache off.
        with autocast(amp, cache_enabled=False):
            losses = model(inputs, samples, mode='loss')
            total = sum(v for k, v in losses.items() if 'loss' in k)
        total.backward()
        optimizer.step()

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    try:
        with torch.cuda.stream(side):
            for _ in range(3):
                optimizer.zero_grad(set_to_none=True)
                body()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        optimizer.zero_grad(set_to_none=True)
        with torch.cuda.graph(graph):
            body()
    except Exception as error:  # noqa: BLE001 (reported, not raised)
        torch.cuda.synchronize()
        return None, f'{type(error).__name__}: {str(error)[:600]}'
    return graph.replay, None


def graph_in_subprocess(args, name, impl):
    """:func:`graph_worker` in a fresh process: a failed capture leaves
    the CUDA context unusable, which must not end the other runs."""
    cmd = [sys.executable, osp.abspath(__file__), '--graph-only',
           '--models', name, '--impls', impl, '--setting', args.setting,
           '--amp', args.amp, '--batch', str(args.batch), '--steps',
           str(args.steps)] + (['--tiny'] if args.tiny else [])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [ROOT] + [p for p in [os.environ.get('PYTHONPATH')] if p]))
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                          env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith('GRAPH ')]
    if not lines:
        return dict(captured=False, error=f'exit {proc.returncode}: '
                    f'{proc.stderr[-600:]}')
    return json.loads(lines[-1][len('GRAPH '):])


def graph_worker(args, params):
    """Capture one model's whole training step; print a GRAPH line."""
    name, impl = args.models, args.impls
    model = bench.build_model(name, params).cuda().train()
    model.backbone.car_align_impl = impl
    inputs, samples = bench.make_batch(args.batch, params,
                                       torch.device('cuda'))
    replay, error = graph_step(model, inputs, samples, args.amp)
    result = dict(captured=replay is not None, error=error)
    if replay is not None:
        times = event_times(replay, args.steps, 2, torch.device('cuda'))
        result['replay_ms'] = statistics.median(times)
    print('GRAPH ' + json.dumps(result), flush=True)


def main(argv=None):
    args = parse_args(argv)
    if args.graph_only:
        params = dict(bench.SETTINGS[args.setting])
        if args.tiny:
            params.update(bench.TINY[args.setting])
        return graph_worker(args, params)
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        sys.exit('error: --device cuda: no CUDA device is available here')
    params = dict(bench.SETTINGS[args.setting])
    if args.tiny:
        params.update(bench.TINY[args.setting])
    report = dict(
        date=datetime.now(timezone.utc).isoformat(timespec='seconds'),
        environment=environment(device), setting=args.setting,
        batch=args.batch, amp=args.amp, runs=[])
    print(json.dumps(report['environment'], indent=1), flush=True)
    if args.env_only:
        if args.out:
            with open(args.out, 'w') as f:
                json.dump(report['environment'], f, indent=2)
        return

    def save():
        if args.out:
            with open(args.out, 'w') as f:
                json.dump(report, f, indent=2)

    bench_args = argparse.Namespace(amp=args.amp)
    for name in args.models.split(','):
        for impl in args.impls.split(','):
            run = dict(model=name, car_align_impl=impl)
            report['runs'].append(run)
            try:
                model = bench.build_model(name, params).to(device)
                model.backbone.car_align_impl = impl
                inputs, samples = bench.make_batch(args.batch, params,
                                                   device)
                step = bench.training_step(model.train(), inputs, samples,
                                           bench_args, device)
                times = event_times(step, args.steps, args.warmup, device)
                run['step_ms'] = statistics.median(times)
                run['step_ms_min'] = min(times)
                run['syncs_per_step'] = sync_sites(step, device)
                prof = profile(step, args.profile_steps, args.top, device)
                run['profile'] = {k: v for k, v in prof.items()
                                  if k != 'table'}
                syncs = run['syncs_per_step']
                print(f'== {name} car_align_impl={impl}: step '
                      f'{run["step_ms"]:.2f} ms, GPU busy '
                      f'{prof["gpu_busy_ms_per_step"]:.2f} ms, '
                      f'{prof["kernels_per_step"]:.0f} kernels, '
                      f'{syncs["count"] if syncs else "-"} syncs',
                      flush=True)
                print(json.dumps(run['syncs_per_step'], indent=1))
                print(prof['table'], flush=True)
                model.eval()
                for nms in args.soft_nms_impls.split(','):
                    model.test_cfg['soft_nms_impl'] = nms

                    def predict():
                        with torch.no_grad(), autocast(args.amp,
                                                       device.type):
                            return model(inputs[:1], samples[:1],
                                         mode='predict')

                    times = event_times(predict, args.steps, args.warmup,
                                        device)
                    run[f'predict_ms_{nms}'] = statistics.median(times)
                    run[f'predict_syncs_{nms}'] = sync_sites(predict, device)
                    if nms == 'torch':
                        prof = profile(predict, args.profile_steps,
                                       args.top, device)
                        run['predict_profile'] = {
                            k: v for k, v in prof.items() if k != 'table'}
                        print(prof['table'], flush=True)
                if not args.no_graph and device.type == 'cuda':
                    run['cuda_graph'] = graph_in_subprocess(args, name,
                                                            impl)
                print('RUN ' + json.dumps(
                    {k: v for k, v in run.items()
                     if k not in ('profile', 'predict_profile')}),
                    flush=True)
            except Exception:  # noqa: BLE001 (reported, the rest runs)
                run['error'] = traceback.format_exc()[-3000:]
                print(run['error'], file=sys.stderr, flush=True)
            save()
            torch.cuda.empty_cache()
    save()


if __name__ == '__main__':
    main()
