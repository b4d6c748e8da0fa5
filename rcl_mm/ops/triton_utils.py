# Copyright (c) rcl_mm contributors. All rights reserved.
"""What the Triton kernels share: where they may run."""
import functools
import importlib.util
import os

from torch import Tensor


@functools.lru_cache(maxsize=None)
def triton_available() -> bool:
    """Whether the ``triton`` package is installed (CUDA builds of torch
    usually bring it); checked without importing it."""
    return importlib.util.find_spec('triton') is not None


def interpreted() -> bool:
    """Whether Triton runs kernels in its interpreter (CPU tensors).

    Triton reads ``TRITON_INTERPRET`` when it is first imported (its own
    library functions are built for one mode), so the variable must be set
    before that, e.g. by the test suite's ``conftest.py``.
    """
    return os.environ.get('TRITON_INTERPRET', '0').lower() in ('1', 'true',
                                                                'on', 'yes')


def check_device(tensor: Tensor, what: str, instead: str) -> None:
    """Raise unless ``tensor`` is on CUDA or the interpreter is on.

    Args:
        tensor (Tensor): An input of the kernel.
        what (str): The call, e.g. ``"car_align impl='triton'"``.
        instead (str): What to use on the CPU, e.g. ``"impl='gather'"``.
    """
    if tensor.device.type != 'cuda' and not interpreted():
        raise RuntimeError(
            f'{what} runs on CUDA tensors, got {tensor.device}; use '
            f'{instead} on the CPU (or set TRITON_INTERPRET=1 before triton '
            "is imported to run the kernels in Triton's interpreter, for "
            'testing).')
