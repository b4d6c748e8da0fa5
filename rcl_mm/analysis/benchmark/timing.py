# Copyright (c) rcl_mm contributors. All rights reserved.
"""Clocks, peak memory and the machine, for the benchmark's workers."""
import os
import platform
import resource
import time
from contextlib import nullcontext
from typing import Callable

import torch


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA); nothing on the CPU."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def autocast(args, device: torch.device):
    """``torch.autocast`` of ``args.amp`` (``'bf16'``, ``'fp16'``), or a
    context that does nothing (``'none'``)."""
    if args.amp == 'none':
        return nullcontext()
    dtype = torch.bfloat16 if args.amp == 'bf16' else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def peak_bytes(device: torch.device) -> int:
    """Peak memory so far: CUDA allocations, or the process's peak RSS."""
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def timed(fn: Callable[[], object], device: torch.device, repeats: int,
          warmup: int) -> float:
    """Mean seconds of ``fn()`` over ``repeats`` after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    sync(device)
    tic = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync(device)
    return (time.perf_counter() - tic) / repeats


def machine_info(device: torch.device) -> dict:
    """CPU model and count, torch and Python versions, the device's name:
    the ``machine`` entry of the report."""
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
