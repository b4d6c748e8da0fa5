# Copyright (c) rcl_mm contributors. All rights reserved.
"""Memory of windowed inference on long synthetic videos.

Usage: python tools/analysis/long_video_memory.py [--minutes 20 120]
       [--config configs/rcl_bmn_thumos.py] [--batch-size 8]
       [--work-dir work_dirs/long_video]

For each length, writes a THUMOS-style feature file (``minutes * 60 * fps
/ snippet_stride`` snippets of 2048 random float32 values, written in
blocks into a memory-mapped ``.npy``) and a checkpoint of the config's
model with seeded weights, then runs ``tools/inference.py`` on it in a
child process and samples the child's ``/proc/PID/status`` every 0.1 s:
the peak anonymous memory (``RssAnon``: what the process itself holds)
and the peak file-backed memory (``RssFile``: mapped pages, among them
the memory-mapped features, which the system reclaims as needed). Linux
only. Prints a table; ``--out`` writes it as JSON.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

import numpy as np
import torch

from rcl_mm.utils.cli import add_debug_argument, run_tool

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MIB = 1024**2


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--minutes', type=float, nargs='+',
                        default=[20, 120])
    parser.add_argument('--config', default='configs/rcl_bmn_thumos.py')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--feat-dim', type=int, default=2048)
    parser.add_argument('--fps', type=float, default=30.0)
    parser.add_argument('--work-dir', default='work_dirs/long_video')
    parser.add_argument('--interval', type=float, default=0.1,
                        help='seconds between samples of the child')
    parser.add_argument('--out', help='write the rows as JSON here')
    add_debug_argument(parser)
    return parser.parse_args(argv)


def write_features(path, num_snippets, feat_dim, seed=0):
    """A ``num_snippets x feat_dim`` float32 ``.npy`` written in blocks,
    so that writing it never holds the whole video in memory."""
    array = np.lib.format.open_memmap(
        path + '.part', mode='w+', dtype=np.float32,
        shape=(num_snippets, feat_dim))
    rng = np.random.default_rng(seed)
    for begin in range(0, num_snippets, 4096):
        end = min(begin + 4096, num_snippets)
        array[begin:end] = rng.standard_normal((end - begin, feat_dim),
                                               dtype=np.float32)
    array.flush()
    del array
    os.replace(path + '.part', path)


def write_checkpoint(config, path):
    """The config's model with seeded weights, as an mmengine checkpoint."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmengine.runner import save_checkpoint

    import rcl_mm  # noqa: F401
    from rcl_mm.registry import MODELS
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('rcl_mm'):
        model = MODELS.build(Config.fromfile(config).model)
    save_checkpoint(dict(state_dict=model.state_dict(), meta={}), path)


def status_kib(pid, keys=('RssAnon', 'RssFile')):
    """``{key: KiB}`` of ``/proc/PID/status``; empty once the child is
    gone."""
    values = {}
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                name, _, rest = line.partition(':')
                if name in keys:
                    values[name] = int(rest.split()[0])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return values


def measure(cmd, interval):
    """Run ``cmd``; return its peak ``RssAnon`` and ``RssFile`` (bytes)
    and wall seconds."""
    peaks = dict(RssAnon=0, RssFile=0)
    tic = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    while proc.poll() is None:
        for key, value in status_kib(proc.pid).items():
            peaks[key] = max(peaks[key], value)
        time.sleep(interval)
    wall = time.perf_counter() - tic
    output = proc.stdout.read()
    if proc.returncode != 0:
        sys.exit(f'{" ".join(cmd)} failed (exit {proc.returncode}):\n'
                 f'{output[-3000:]}')
    return peaks['RssAnon'] * 1024, peaks['RssFile'] * 1024, wall


def main(argv=None):
    args = parse_args(argv)
    if not osp.isdir('/proc/self'):
        sys.exit('this measurement reads /proc/PID/status (Linux only)')
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, args.config))
    stride = cfg.get('snippet_stride', 5)
    os.makedirs(args.work_dir, exist_ok=True)
    checkpoint = osp.join(args.work_dir, 'seeded.pth')
    write_checkpoint(osp.join(ROOT, args.config), checkpoint)
    rows = []
    for minutes in args.minutes:
        num_snippets = int(round(minutes * 60 * args.fps / stride))
        features = osp.join(args.work_dir, f'video_{minutes:g}min.npy')
        if not osp.isfile(features) or np.load(
                features, mmap_mode='r').shape != (num_snippets,
                                                   args.feat_dim):
            write_features(features, num_snippets, args.feat_dim)
        cmd = [
            sys.executable,
            osp.join(ROOT, 'tools', 'inference.py'), features, '--config',
            osp.join(ROOT, args.config), '--checkpoint', checkpoint,
            '--batch-size',
            str(args.batch_size), '--out-dir',
            osp.join(args.work_dir, f'out_{minutes:g}min')
        ]
        anon, mapped, wall = measure(cmd, args.interval)
        rows.append(
            dict(minutes=minutes, snippets=num_snippets,
                 file_bytes=osp.getsize(features), peak_anon_bytes=anon,
                 peak_file_backed_bytes=mapped, wall_s=wall))
        print(f'{minutes:g} min, {num_snippets} snippets: peak anonymous '
              f'{anon / MIB:.0f} MiB, peak file-backed {mapped / MIB:.0f} '
              f'MiB, {wall:.1f} s', flush=True)
    if len(rows) > 1:
        grow = rows[-1]['peak_anon_bytes'] - rows[0]['peak_anon_bytes']
        print(f'anonymous memory {rows[-1]["minutes"]:g} min vs '
              f'{rows[0]["minutes"]:g} min: {grow / MIB:+.0f} MiB')
    if args.out:
        from rcl_mm.utils.io import atomic_write
        with atomic_write(args.out) as f:
            json.dump(dict(config=args.config, batch_size=args.batch_size,
                           rows=rows), f, indent=2)
    return rows


if __name__ == '__main__':
    sys.exit(run_tool(main))
