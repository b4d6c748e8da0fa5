# Copyright (c) rcl_mm contributors. All rights reserved.
"""Time and memory of CARAlign against BMN's dense BM layer + conv3d.

Not collected by pytest. Each case runs in its own process so that its peak
resident memory is its own::

    PYTHONPATH=. python tests/test_ops/bench_car_align.py   # default table
    PYTHONPATH=. python tests/test_ops/bench_car_align.py --one --batch 2

"Extra peak" is the process's peak RSS during the first forward + backward
minus its RSS just before it (inputs, weights and plan already built).
"best_s" is the best wall time and "cpu_s" the process CPU time of that
iteration (all threads), which is less sensitive to other jobs on the host.
"""
import argparse
import json
import resource
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from rcl_mm.ops import bmn_grid_segments, car_align_sampling
from rcl_mm.ops import car_align_with_sampling

CASES = [
    dict(impl='car', batch=8),
    dict(impl='car', batch=8, dtype='bfloat16'),
    dict(impl='car', batch=1),
    dict(impl='dense', batch=1),
    dict(impl='car', batch=8, tscale=256, duration=64),  # THUMOS windows
]


def current_rss_mib() -> float:
    """Resident set size of this process now, in MiB."""
    with open('/proc/self/statm') as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def dense_mask(index: torch.Tensor, weight: torch.Tensor, temporal_dim: int,
               flat_index: torch.Tensor, max_duration: int) -> torch.Tensor:
    """mmaction2's ``sample_mask`` layout, T x (N * D * T), from a plan."""
    num_segments, num_bins, _ = index.shape
    mask = torch.zeros(temporal_dim, num_bins, max_duration * temporal_dim)
    cols = flat_index[:, None, None].expand_as(index)
    bins = torch.arange(num_bins)[None, :, None].expand_as(index)
    mask.index_put_((index, bins, cols), weight, accumulate=True)
    return mask.view(temporal_dim, -1)


def run_case(args) -> dict:
    """Build one case, then measure its forward + backward."""
    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    t, n = args.tscale, args.bins
    d = args.duration or t
    segments, flat_index = bmn_grid_segments(t, d)
    index, weight = car_align_sampling(segments, t, n, args.points)
    x = torch.randn(args.batch, args.channels, t, dtype=dtype)
    x.requires_grad_()
    proj = torch.randn(args.out, args.channels, n, dtype=dtype) * 0.01
    proj.requires_grad_()
    if args.impl == 'car':

        def step():
            out = car_align_with_sampling(x, index, weight, proj)
            out.sum().backward()
    else:
        mask = dense_mask(index, weight, t, flat_index, d).to(dtype)

        def step():
            bm = torch.matmul(x, mask).view(args.batch, args.channels, n, d, t)
            out = F.conv3d(bm, proj[..., None, None]).flatten(2)
            out[..., flat_index].sum().backward()

    rss_before = current_rss_mib()
    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    extra_peak = peak_rss_mib() - rss_before
    times = []
    for _ in range(args.iters):
        x.grad = proj.grad = None
        start, cpu_start = time.perf_counter(), time.process_time()
        step()
        times.append(
            (time.perf_counter() - start, time.process_time() - cpu_start))
    return dict(
        impl=args.impl,
        dtype=args.dtype,
        B=args.batch,
        C=args.channels,
        O=args.out,
        N=n,
        S=args.points,
        T=t,
        D=d,
        K=int(segments.size(0)),
        threads=torch.get_num_threads(),
        first_s=round(first, 3),
        best_s=round(min(times)[0], 3) if times else None,
        cpu_s=round(min(times)[1], 3) if times else None,
        extra_peak_mib=round(extra_peak))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--impl', choices=['car', 'dense'], default='car')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--channels', type=int, default=256)
    parser.add_argument('--out', type=int, default=512)
    parser.add_argument('--bins', type=int, default=32)
    parser.add_argument('--points', type=int, default=3)
    parser.add_argument('--tscale', type=int, default=100)
    parser.add_argument('--duration', type=int, help='D (default: T)')
    parser.add_argument('--dtype', default='float32')
    parser.add_argument('--iters', type=int, default=3)
    parser.add_argument('--threads', type=int, help='torch threads')
    parser.add_argument(
        '--one', action='store_true', help='run only the case given')
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_case(args)))
        return
    for case in CASES:
        cmd = [sys.executable, __file__, '--one', '--iters', str(args.iters)]
        if args.threads:
            cmd += ['--threads', str(args.threads)]
        for key, value in case.items():
            cmd += [f'--{key}', str(value)]
        subprocess.run(cmd, check=True)


if __name__ == '__main__':
    main()
