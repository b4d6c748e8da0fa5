# Copyright (c) rcl_mm contributors. All rights reserved.
"""What the op tests share: the devices of the Triton kernels and the
checks every CARAlign ``impl`` must pass against the gather path."""
import pytest
import torch

from rcl_mm.ops import car_align_sampling, car_align_with_sampling
from rcl_mm.ops.triton_utils import interpreted

# Triton kernels: interpreted on CPU tensors, or compiled on CUDA.
TRITON_DEVICES = [
    pytest.param(
        'cpu',
        marks=pytest.mark.skipif(
            not interpreted(), reason='needs TRITON_INTERPRET=1')),
    pytest.param(
        'cuda',
        marks=[
            pytest.mark.cuda,
            pytest.mark.skipif(
                not torch.cuda.is_available() or interpreted(),
                reason='needs CUDA and compiled kernels')
        ]),
]


def impl_outputs(x, proj, index, weight, channels_last, impls):
    """Each impl's output and gradients (of x, and of proj if given)
    under one probe, as ``[(out, grads), ...]``."""
    results = []
    for impl in impls:
        inputs = [x.clone().requires_grad_()]
        if proj is not None:
            inputs.append(proj.clone().requires_grad_())
        out = car_align_with_sampling(inputs[0], index, weight,
                                      inputs[1] if proj is not None else
                                      None, channels_last=channels_last,
                                      impl=impl)
        probe = torch.linspace(-1, 1, out.numel(), dtype=out.dtype,
                               device=out.device).view_as(out)
        grads = torch.autograd.grad((out * probe).sum(), inputs)
        results.append((out, grads))
    return results


def assert_equals_gather(impl, device, shared, project, channels_last):
    """``impl`` gives the gather path's values and gradients (float64, so
    to rounding), in the same contiguous layout, for shared and per-batch
    plans; segments partly outside the window and inverted ones
    included."""
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(3, 5, 12, generator=generator, dtype=torch.float64)
    proj = torch.randn(7, 5, 4, generator=generator, dtype=torch.float64)
    segments = torch.rand(3, 9, 2, generator=generator,
                          dtype=torch.float64) * 16 - 2
    segments = segments[0] if shared else segments
    x, proj, segments = x.to(device), proj.to(device), segments.to(device)
    index, weight = car_align_sampling(segments, 12, 4, 3)
    (want, want_grads), (got, got_grads) = impl_outputs(
        x, proj if project else None, index, weight, channels_last,
        ('gather', impl))
    assert got.shape == want.shape and got.dtype == want.dtype
    assert got.is_contiguous()
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    for g, w in zip(got_grads, want_grads):
        torch.testing.assert_close(g, w, rtol=0, atol=1e-12)


def assert_gradcheck_and_bfloat16(impl, device='cpu'):
    """gradcheck in float64, and bfloat16 inputs run natively and stay
    close to the float64 result."""
    generator = torch.Generator().manual_seed(4)
    x = torch.randn(2, 3, 7, generator=generator, dtype=torch.float64)
    proj = torch.randn(4, 3, 2, generator=generator, dtype=torch.float64)
    segments = torch.tensor([[0.5, 3.2], [-1.0, 2.0], [4.0, 9.0]],
                            dtype=torch.float64)
    x, proj = x.to(device).requires_grad_(), proj.to(device).requires_grad_()
    index, weight = car_align_sampling(segments.to(device), 7, 2, 2)
    assert torch.autograd.gradcheck(
        lambda a, w: car_align_with_sampling(a, index, weight, w,
                                             impl=impl), (x, proj))
    exact = car_align_with_sampling(x.detach(), index, weight,
                                    proj.detach(), impl=impl)
    low = car_align_with_sampling(x.detach().bfloat16(), index, weight,
                                  proj.detach().bfloat16(), impl=impl)
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.double(), exact, rtol=0.05, atol=0.05)
