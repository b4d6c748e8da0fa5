# Copyright (c) rcl_mm contributors. All rights reserved.
"""Keeping freed host memory for reuse, for training on the CPU."""
import ctypes
import sys

# mallopt parameters of glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
# mallopt takes an int: trim only when 2 GiB lie free at the heap's top.
_NEVER_TRIM = 2**31 - 1


def reuse_freed_memory() -> bool:
    """Let glibc's ``malloc`` keep freed memory for this process's reuse.

    By default glibc serves each block over 32 MiB by a fresh ``mmap`` and
    returns it to the system on ``free``, so every large tensor of a CPU
    training step (a BMN step at the ANet setting allocates about 1 GB of
    them) is page-faulted in again, one zeroed 4 KiB page at a time. Here
    large blocks come from the heap and the heap is not trimmed, so later
    steps reuse the pages: faster steps for more peak memory (a freed
    block is kept whole, so the heap holds more than the live tensors,
    until the process ends); ``benchmark.py --parts train`` without and
    with ``--reuse-freed-memory`` measures both (docs/benchmark.md).

    It changes the allocator of the whole process from now on; threads and
    processes forked later inherit it. Outside Linux with glibc it does
    nothing.

    Returns:
        bool: Whether the allocator was changed.
    """
    if not sys.platform.startswith('linux'):
        return False
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return False
    # gnu_get_libc_version marks glibc; other C libraries' mallopt (musl's
    # does nothing) have other parameters.
    if not hasattr(libc, 'gnu_get_libc_version') or not hasattr(
            libc, 'mallopt'):
        return False
    mallopt = libc.mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return (mallopt(_M_MMAP_MAX, 0) == 1
            and mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM) == 1)
