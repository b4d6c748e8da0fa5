# Copyright (c) rcl_mm contributors. All rights reserved.
"""The devices a test runs on, and the ``cuda`` marker of its CUDA cases.

Every case that needs a GPU carries ``pytest.mark.cuda``, so that
``pytest -m cuda`` runs exactly the CUDA cases on a GPU machine
(tools/analysis/cuda_check.sh); without a GPU they skip.
"""
import pytest
import torch

_CUDA_MARKS = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA'),
]


def requires_cuda(test):
    """Decorator: ``test`` is a CUDA case, skipped without a GPU."""
    for mark in _CUDA_MARKS:
        test = mark(test)
    return test


CUDA = pytest.param('cuda', marks=_CUDA_MARKS, id='cuda')
# Parametrise a test with ``@pytest.mark.parametrize('device', DEVICES)``.
DEVICES = ['cpu', CUDA]
