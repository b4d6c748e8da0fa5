# Copyright (c) rcl_mm contributors. All rights reserved.
"""Speed of BMN candidate selection + Soft-NMS at ActivityNet settings.

Not collected by pytest. Run from the repository root::

    python tests/test_models/test_task_modules/bench_post_processing.py

T = D = 100, Soft-NMS alpha 0.4, thresholds 0.5 / 0.9, top 100; boundary
curves with a few smooth peaks (like trained BMN outputs) and, for a worst
case, uniform noise (about three times as many candidates).
"""
import argparse
import statistics
import time

import torch

from rcl_mm.models.task_modules import bmn_candidates, soft_nms


def smooth_maps(batch, num_t, gen):
    """BMN-like outputs: boundary curves with four smooth peaks.

    Args:
        batch (int): B.
        num_t (int): T (= D).
        gen (torch.Generator): Random generator.

    Returns:
        tuple[Tensor, Tensor, Tensor]: start (B, T), end (B, T) and
        confidence map (B, 2, T, T).
    """
    t = torch.arange(num_t, dtype=torch.float32)

    def curve():
        out = torch.zeros(batch, num_t)
        for _ in range(4):
            centre = torch.rand(batch, 1, generator=gen) * num_t
            width = 1 + 3 * torch.rand(batch, 1, generator=gen)
            height = torch.rand(batch, 1, generator=gen)
            out += height * torch.exp(-(t - centre)**2 / (2 * width**2))
        out = 0.05 + 0.9 * out / out.amax(dim=1, keepdim=True)
        return out + 0.02 * torch.rand(batch, num_t, generator=gen)

    conf = torch.rand(batch, 2, num_t, num_t, generator=gen)
    return curve(), curve(), conf


def uniform_maps(batch, num_t, gen):
    """Uniform noise maps, many more candidates than trained outputs."""
    return (torch.rand(batch, num_t,
                       generator=gen), torch.rand(batch, num_t, generator=gen),
            torch.rand(batch, 2, num_t, num_t, generator=gen))


def main():
    """Print the median milliseconds per batch and per video."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--batches', type=int, default=20)
    parser.add_argument(
        '--repeats', type=int, default=5, help='timed passes over the batches')
    parser.add_argument(
        '--threads', type=int, default=0, help='torch threads (0: default)')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    device = torch.device(args.device)

    def run(start, end, conf):
        segs, scores, valid = bmn_candidates(start, end, conf)
        soft_nms(segs, scores, valid, 0.4, 0.5, 0.9, 100)
        if device.type == 'cuda':
            torch.cuda.synchronize()

    for name, make in (('smooth', smooth_maps), ('uniform', uniform_maps)):
        for batch in (1, 8):
            data = [[x.to(device) for x in make(batch, 100, gen)]
                    for _ in range(args.batches)]

            run(*data[0])  # warm-up
            # Each call timed alone, median over calls: robust to other
            # processes sharing the CPU.
            times = []
            for _ in range(args.repeats):
                for maps in data:
                    tic = time.perf_counter()
                    run(*maps)
                    times.append(time.perf_counter() - tic)
            per_batch = statistics.median(times) * 1e3
            fastest = min(times) * 1e3
            num = sum(int(bmn_candidates(*d)[2].sum())
                      for d in data) / len(data)
            print(f'{name:8s} B={batch}: {per_batch:6.2f} ms/batch '
                  f'{per_batch / batch:6.2f} ms/video '
                  f'(fastest {fastest / batch:.2f}) '
                  f'[{num / batch:.0f} candidates/video, '
                  f'{torch.get_num_threads()} threads]')


if __name__ == '__main__':
    main()
