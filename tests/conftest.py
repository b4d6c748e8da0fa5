# Copyright (c) rcl_mm contributors. All rights reserved.
"""Test-session setup."""
import os

import torch

# Triton fixes its mode when it is first imported. Without a GPU, CARAlign's
# Triton kernels (tests/test_ops/test_car_align_triton.py) run in Triton's
# interpreter on CPU tensors, so the variable is set before anything
# imports triton; with a GPU they compile and run on it.
if not torch.cuda.is_available():
    os.environ.setdefault('TRITON_INTERPRET', '1')
