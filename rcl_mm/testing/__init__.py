# Copyright (c) rcl_mm contributors. All rights reserved.
"""Seeded stand-ins for model outputs, shared by the tests and benchmarks."""
from typing import Tuple

import torch
from torch import Generator, Tensor

__all__ = ['smooth_maps', 'noise_maps']


def smooth_maps(batch: int, num_t: int, num_d: int,
                gen: Generator) -> Tuple[Tensor, Tensor, Tensor]:
    """BMN-like outputs: boundary curves with four smooth peaks.

    Returns:
        tuple[Tensor, Tensor, Tensor]: start (B, T), end (B, T) and the
        confidence map (B, 2, D, T).
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

    conf = torch.rand(batch, 2, num_d, num_t, generator=gen)
    return curve(), curve(), conf


def noise_maps(batch: int, num_t: int, num_d: int,
               gen: Generator) -> Tuple[Tensor, Tensor, Tensor]:
    """Uniform noise: the worst case, several times more candidates."""
    return (torch.rand(batch, num_t, generator=gen),
            torch.rand(batch, num_t, generator=gen),
            torch.rand(batch, 2, num_d, num_t, generator=gen))
