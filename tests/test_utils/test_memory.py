# Copyright (c) rcl_mm contributors. All rights reserved.
"""Keeping freed host memory: page faults of a repeated large tensor."""
import subprocess
import sys
import types

import pytest
import torch

from rcl_mm.engine import ReuseFreedMemoryHook

# Allocates, fills and frees a 64 MiB tensor over and over, before and
# after reuse_freed_memory(), and prints the fewest minor page faults of a
# cycle before and the most of a cycle after (once settled).
PROBE = '''
import resource, sys, torch
from rcl_mm.utils import reuse_freed_memory

def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

def fill_and_free():
    before = faults()
    x = torch.ones(16 * 1024 * 1024)
    del x
    return faults() - before

fill_and_free()
default = [fill_and_free() for _ in range(3)]
applied = reuse_freed_memory()
# The heap grows while Python's small allocations settle into the freed
# block's edges (one or two more 64 MiB), then stays.
for _ in range(3):
    fill_and_free()
reused = [fill_and_free() for _ in range(3)]
print(applied, min(default), max(reused))
'''


@pytest.mark.skipif(not sys.platform.startswith('linux'),
                    reason='glibc only')
def test_freed_memory_is_reused_without_page_faults():
    """glibc maps a 64 MiB block afresh at each allocation (16,384 pages
    faulted in here); once freed memory is kept, the same allocation
    faults in next to nothing. Run in a child: the setting holds for the
    whole process."""
    out = subprocess.run([sys.executable, '-c', PROBE], capture_output=True,
                         text=True, check=True).stdout.split()
    applied, default, reused = out[0], int(out[1]), int(out[2])
    assert applied == 'True'
    # 16,384 pages of 4 KiB (fewer where transparent huge pages back the
    # block: 32 of 2 MiB).
    assert default >= 32
    assert reused * 100 <= default


@pytest.mark.parametrize('device, called', [('cpu', True), ('meta', False)])
def test_hook_applies_only_to_a_model_on_the_cpu(device, called,
                                                 monkeypatch):
    import rcl_mm.engine.hooks as hooks
    calls = []
    monkeypatch.setattr(hooks, 'reuse_freed_memory',
                        lambda: calls.append(1) or True)
    messages = []
    runner = types.SimpleNamespace(
        model=torch.nn.Linear(2, 2, device=device),
        logger=types.SimpleNamespace(info=messages.append))
    ReuseFreedMemoryHook().before_run(runner)
    assert bool(calls) == called
    assert messages == (['Freed host memory is kept for reuse '
                         '(CPU training).'] if called else [])
