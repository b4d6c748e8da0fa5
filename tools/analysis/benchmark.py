# Copyright (c) rcl_mm contributors. All rights reserved.
"""Benchmark our BMN against mmaction2's BMN on the same machine.

Times a training step (forward, loss, backward, optimizer step), batched
inference (forward) and single-video prediction (forward and
post-processing), reads peak memory, checks that both give the same
outputs on the same weights, and prints the ratios. Each model runs in a
fresh subprocess so that peak memory is its own.

Usage: python tools/analysis/benchmark.py [--batch 8] [--temporal-dim 100]
       [--feat-dim 400] [--device cpu|cuda] [--steps 2] [--warmup 1]
       [--out benchmark.json]
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import torch
from terminaltables import AsciiTable

MODELS = ('mmaction2', 'rcl_mm')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--temporal-dim', type=int, default=100)
    parser.add_argument('--feat-dim', type=int, default=400)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--steps', type=int, default=2,
                        help='timed training steps (mean is reported)')
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument(
        '--configs', nargs='*', default=[],
        help='also time the models of these configs (at their own T, D '
        'and input dimension), e.g. configs/rcl_bmn_anet.py')
    parser.add_argument('--out', help='write the results as JSON here')
    parser.add_argument('--worker', help=argparse.SUPPRESS)
    parser.add_argument('--scratch', help=argparse.SUPPRESS)
    return parser.parse_args()


def bmn_kwargs(args):
    return dict(
        temporal_dim=args.temporal_dim,
        boundary_ratio=0.5,
        num_samples=32,
        num_samples_per_bin=3,
        feat_dim=args.feat_dim,
        soft_nms_alpha=0.4,
        soft_nms_low_threshold=0.5,
        soft_nms_high_threshold=0.9,
        post_process_top_k=100)


def build(name, args):
    """Build one of the two BMNs with the same, seeded weights, or the
    model of a config file."""
    import rcl_mm  # noqa: F401  (patches mmaction2's missing module)
    torch.manual_seed(0)
    if name.endswith('.py'):
        from rcl_mm.apis import init_localizer
        return init_localizer(name).train()
    from mmaction.models import BMN as MMBMN
    from rcl_mm.models import BMN
    from rcl_mm.utils import convert_mmaction2_bmn
    reference = MMBMN(**bmn_kwargs(args))
    if name == 'mmaction2':
        return reference
    ours = BMN(**bmn_kwargs(args))
    ours.load_state_dict(convert_mmaction2_bmn(reference.state_dict()))
    del reference
    return ours


def make_batch(batch, feat_dim, temporal_dim, device):
    from mmaction.structures import ActionDataSample
    from mmengine.structures import InstanceData
    gen = torch.Generator().manual_seed(1)
    inputs = torch.rand(batch, feat_dim, temporal_dim, generator=gen)
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
    return inputs.to(device), samples


def sync(device):
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def peak_bytes(device):
    if device.startswith('cuda'):
        return torch.cuda.max_memory_allocated()
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def worker(args):
    """Measure one model; print a JSON line."""
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device
    model = build(args.worker, args).to(device)
    if args.worker.endswith('.py'):
        # A config's model runs at its own setting.
        feat_dim = model.backbone.feat_dim
        temporal_dim = model.backbone.temporal_dim
    else:
        feat_dim, temporal_dim = args.feat_dim, args.temporal_dim
    inputs, samples = make_batch(args.batch, feat_dim, temporal_dim, device)
    batch_list = list(inputs)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    if device.startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()
    # What the process holds before any computation: libraries, the model,
    # the batch; the training step's own memory is the peak above this.
    base_rss = peak_bytes(device)

    def train_step():
        losses = model(batch_list, samples, mode='loss')
        total = sum(v for k, v in losses.items() if 'loss' in k)
        optimizer.zero_grad()
        total.backward()
        optimizer.step()

    for _ in range(args.warmup):
        train_step()
    sync(device)
    tic = time.perf_counter()
    for _ in range(args.steps):
        train_step()
    sync(device)
    train_s = (time.perf_counter() - tic) / args.steps
    train_peak = peak_bytes(device)

    model.eval()
    with torch.no_grad():
        model(batch_list, samples, mode='tensor')
        sync(device)
        tic = time.perf_counter()
        model(batch_list, samples, mode='tensor')
        sync(device)
        forward_s = time.perf_counter() - tic
        model(batch_list[:1], samples[:1], mode='predict')
        sync(device)
        tic = time.perf_counter()
        model(batch_list[:1], samples[:1], mode='predict')
        sync(device)
        predict_s = time.perf_counter() - tic
    result = dict(
        model=args.worker,
        train_step_s=train_s,
        train_peak_bytes=train_peak,
        train_step_extra_bytes=train_peak - base_rss,
        forward_batch_s=forward_s,
        predict_one_video_s=predict_s)
    print('RESULT ' + json.dumps(result))
    if args.worker.endswith('.py'):
        return
    # Outputs of the untrained weights, which both BMNs share.
    model = build(args.worker, args).to(device).eval()
    with torch.no_grad():
        confidence_map, start, end = model(batch_list, samples, mode='tensor')
    torch.save(
        dict(confidence_map=confidence_map.cpu(), start=start.cpu(),
             end=end.cpu()), os.path.join(args.scratch, f'{args.worker}.pt'))


def main():
    args = parse_args()
    if args.worker:
        worker(args)
        return
    results = {}
    scratch = tempfile.mkdtemp(prefix='rcl_mm_benchmark_')
    for name in MODELS + tuple(args.configs):
        cmd = [sys.executable, os.path.abspath(__file__), '--worker', name,
               '--scratch', scratch]
        for flag in ('batch', 'temporal_dim', 'feat_dim', 'device', 'steps',
                     'warmup', 'threads'):
            value = getattr(args, flag)
            if value is not None:
                cmd += ['--' + flag.replace('_', '-'), str(value)]
        print(f'running {name} ...', flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        lines = [ln for ln in proc.stdout.splitlines()
                 if ln.startswith('RESULT ')]
        if proc.returncode != 0 or not lines:
            sys.exit(f'{name} failed:\n{proc.stdout}\n{proc.stderr}')
        results[name] = json.loads(lines[-1][len('RESULT '):])

    ref = torch.load(os.path.join(scratch, 'mmaction2.pt'))
    ours = torch.load(os.path.join(scratch, 'rcl_mm.pt'))
    shutil.rmtree(scratch)
    errors = {
        key: float(((ours[key] - ref[key]).abs().max() /
                    ref[key].abs().max().clamp(min=1e-12)))
        for key in ref
    }
    mm, us = results['mmaction2'], results['rcl_mm']
    ratios = dict(
        train_step_speedup=mm['train_step_s'] / us['train_step_s'],
        train_peak_memory_ratio=us['train_peak_bytes'] /
        mm['train_peak_bytes'],
        train_step_extra_memory_ratio=us['train_step_extra_bytes'] /
        max(mm['train_step_extra_bytes'], 1),
        forward_speedup=mm['forward_batch_s'] / us['forward_batch_s'],
        predict_speedup=mm['predict_one_video_s'] /
        us['predict_one_video_s'])
    rows = [['', 'mmaction2 BMN', 'rcl_mm BMN', 'ratio']]
    gib = 1024**3
    rows.append(['train step (s)', f'{mm["train_step_s"]:.3f}',
                 f'{us["train_step_s"]:.3f}',
                 f'{ratios["train_step_speedup"]:.1f}x faster'])
    rows.append(['peak memory (GiB)', f'{mm["train_peak_bytes"] / gib:.2f}',
                 f'{us["train_peak_bytes"] / gib:.2f}',
                 f'{ratios["train_peak_memory_ratio"]:.3f}'])
    rows.append(['memory of the step (GiB)',
                 f'{mm["train_step_extra_bytes"] / gib:.2f}',
                 f'{us["train_step_extra_bytes"] / gib:.2f}',
                 f'{ratios["train_step_extra_memory_ratio"]:.3f}'])
    rows.append([f'forward, batch {args.batch} (s)',
                 f'{mm["forward_batch_s"]:.3f}',
                 f'{us["forward_batch_s"]:.3f}',
                 f'{ratios["forward_speedup"]:.1f}x faster'])
    rows.append(['predict 1 video (s)', f'{mm["predict_one_video_s"]:.4f}',
                 f'{us["predict_one_video_s"]:.4f}',
                 f'{ratios["predict_speedup"]:.1f}x faster'])
    title = (f'BMN, batch {args.batch}, T = D = {args.temporal_dim}, '
             f'{args.feat_dim}-d, {args.device}, '
             f'{torch.get_num_threads()} threads')
    print(AsciiTable(rows, title=title).table)
    print('max relative error of our outputs: ' +
          ', '.join(f'{k} {v:.2e}' for k, v in errors.items()))
    if args.configs:
        rows = [['config', 'train step (s)', 'vs our BMN', 'peak (GiB)',
                 f'forward b{args.batch} (s)', 'predict 1 video (s)']]
        for config in args.configs:
            r = results[config]
            rows.append([
                config, f'{r["train_step_s"]:.3f}',
                f'{r["train_step_s"] / us["train_step_s"]:.2f}x',
                f'{r["train_peak_bytes"] / gib:.2f}',
                f'{r["forward_batch_s"]:.3f}',
                f'{r["predict_one_video_s"]:.4f}'
            ])
        print(AsciiTable(rows, title='our models, each at its config\'s '
                         'setting').table)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(settings=vars(args), results=results,
                           ratios=ratios, max_relative_error=errors), f,
                      indent=2)


if __name__ == '__main__':
    main()
