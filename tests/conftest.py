# Copyright (c) rcl_mm contributors. All rights reserved.
"""Test-session setup."""
import os

import pytest
import torch

# Triton fixes its mode when it is first imported. Without a GPU, CARAlign's
# Triton kernels (tests/test_ops/test_car_align_triton.py) run in Triton's
# interpreter on CPU tensors, so the variable is set before anything
# imports triton; with a GPU they compile and run on it.
if not torch.cuda.is_available():
    os.environ.setdefault('TRITON_INTERPRET', '1')


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'cuda: needs a CUDA device (skipped without one); '
        '`pytest -m cuda` runs every CUDA case')


@pytest.fixture
def exact_float32():
    """Keep cuDNN and cuBLAS from rounding float32 through TF32 (errors of
    about 1e-3 on CUDA, where parity tests check 1e-5)."""
    saved = (torch.backends.cudnn.allow_tf32,
             torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    yield
    (torch.backends.cudnn.allow_tf32,
     torch.backends.cuda.matmul.allow_tf32) = saved
