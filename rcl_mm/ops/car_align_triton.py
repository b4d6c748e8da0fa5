# Copyright (c) rcl_mm contributors. All rights reserved.
"""Triton kernels for CARAlign's tap sums (``impl='triton'``).

Imported only when :func:`rcl_mm.ops.car_align_with_sampling` is called
with ``impl='triton'``; nothing else in the package needs Triton. The
kernels compute what the PyTorch paths compute (see
:mod:`rcl_mm.ops.car_align`):

* forward: ``out[b, j, f] = sum_p weight[j, p] * table[b, rows[j, p], f]``
  over the ``P`` taps of bag ``j`` (a segment, or a (bin, segment) pair
  without projection), accumulated in float32 (float64 for float64
  tables). The plan is used as :func:`car_align_sampling` gives it, taps
  unmerged: a zero-weight tap loads nothing. One program sums a block of
  bags for a block of columns.
* backward: ``grad_table[b, r, f] = sum weight * grad_out[b, j, f]`` over
  the taps that read row ``r``. The taps are sorted by row once per call
  (a compressed-row plan built with ``argsort`` and ``searchsorted``, no
  host synchronisation); one program owns a row and a block of columns
  and sums its taps in chunks. No atomics: the result is deterministic.

The kernels run on CUDA tensors. With ``TRITON_INTERPRET=1`` in the
environment before Triton is imported, they run in Triton's interpreter on
CPU tensors instead: how the tests check them on machines without a GPU.
"""
from typing import Tuple

import torch
import triton
import triton.language as tl
from torch import Tensor
from torch.autograd import Function
from torch.autograd.function import once_differentiable

from rcl_mm.ops.triton_utils import check_device

_BLOCK_BAGS = 32
_BLOCK_COLS = 64
_BLOCK_TAPS = 32


@triton.jit
def _tap_sum_forward(table_ptr, rows_ptr, weight_ptr, out_ptr, num_bags,
                     num_taps, num_rows, width, plan_stride, out_stride_b,
                     out_stride_j, out_stride_f, BLOCK_J: tl.constexpr,
                     BLOCK_F: tl.constexpr, ACC: tl.constexpr):
    pid_j = tl.program_id(0)
    pid_f = tl.program_id(1)
    b = tl.program_id(2).to(tl.int64)
    bags = pid_j * BLOCK_J + tl.arange(0, BLOCK_J)
    cols = pid_f * BLOCK_F + tl.arange(0, BLOCK_F)
    bag_ok = bags < num_bags
    col_ok = cols < width
    plan = b * plan_stride + bags.to(tl.int64) * num_taps
    table = table_ptr + b * num_rows * width
    acc = tl.zeros((BLOCK_J, BLOCK_F), dtype=ACC)
    for p in range(0, num_taps):
        row = tl.load(rows_ptr + plan + p, mask=bag_ok, other=0)
        weight = tl.load(weight_ptr + plan + p, mask=bag_ok, other=0.0)
        read = (weight != 0)[:, None] & col_ok[None, :]
        value = tl.load(
            table + row.to(tl.int64)[:, None] * width + cols[None, :],
            mask=read, other=0.0)
        acc += weight[:, None] * value.to(ACC)
    out = (out_ptr + b * out_stride_b +
           bags.to(tl.int64)[:, None] * out_stride_j +
           cols[None, :] * out_stride_f)
    tl.store(out, acc.to(out_ptr.dtype.element_ty),
             mask=bag_ok[:, None] & col_ok[None, :])


@triton.jit
def _tap_sum_backward(grad_ptr, bags_ptr, weight_ptr, row_start_ptr,
                      grad_table_ptr, num_rows, width, per_batch_plan,
                      grad_stride_b, grad_stride_j, grad_stride_f,
                      BLOCK_E: tl.constexpr, BLOCK_F: tl.constexpr,
                      ACC: tl.constexpr):
    row = tl.program_id(0)
    pid_f = tl.program_id(1)
    b = tl.program_id(2).to(tl.int64)
    cols = pid_f * BLOCK_F + tl.arange(0, BLOCK_F)
    col_ok = cols < width
    # Plan m's rows follow plan m - 1's: row_start has M * R + 1 entries.
    plan = b * per_batch_plan
    start = tl.load(row_start_ptr + plan * num_rows + row)
    end = tl.load(row_start_ptr + plan * num_rows + row + 1)
    grad = grad_ptr + b * grad_stride_b
    acc = tl.zeros((BLOCK_F, ), dtype=ACC)
    for first in range(start, end, BLOCK_E):
        entries = first + tl.arange(0, BLOCK_E)
        ok = entries < end
        bag = tl.load(bags_ptr + entries, mask=ok, other=0)
        weight = tl.load(weight_ptr + entries, mask=ok, other=0.0)
        value = tl.load(
            grad + bag.to(tl.int64)[:, None] * grad_stride_j +
            cols[None, :] * grad_stride_f,
            mask=ok[:, None] & col_ok[None, :], other=0.0)
        acc += tl.sum(weight[:, None] * value.to(ACC), axis=0)
    out = grad_table_ptr + (b * num_rows + row) * width + cols
    tl.store(out, acc.to(grad_table_ptr.dtype.element_ty), mask=col_ok)


def _accumulator(dtype: torch.dtype) -> Tuple[torch.dtype, object]:
    """Weights' and sums' dtype: float64 for float64 tables (so that the
    kernels can be checked with gradcheck), else float32."""
    if dtype == torch.float64:
        return torch.float64, tl.float64
    return torch.float32, tl.float32


def row_plan(rows: Tensor, weight: Tensor,
             num_rows: int) -> Tuple[Tensor, Tensor, Tensor]:
    """The taps sorted by table row: the backward pass's plan.

    Args:
        rows (Tensor): ``(M, J, P)`` table rows of the taps.
        weight (Tensor): ``(M, J, P)`` weights.
        num_rows (int): ``R``, rows of the table.

    Returns:
        tuple[Tensor, Tensor, Tensor]: ``bags`` and ``weight`` of the
        taps sorted by (plan, row), and ``row_start`` (``M * R + 1``,
        int64): the taps of row ``r`` of plan ``m`` are entries
        ``row_start[m * R + r]`` up to ``row_start[m * R + r + 1]``.
        Zero-weight taps sort after every row and are never read.
    """
    num_plans, num_bags, num_taps = rows.shape
    plan = torch.arange(num_plans, device=rows.device)[:, None, None]
    key = plan * num_rows + rows.long()
    sentinel = num_plans * num_rows
    key = torch.where(weight != 0, key, sentinel).reshape(-1)
    key, order = torch.sort(key, stable=True)
    bags = (order // num_taps) % num_bags
    starts = torch.searchsorted(
        key, torch.arange(sentinel + 1, device=rows.device))
    return bags.to(torch.int32), weight.reshape(-1)[order], starts


class TritonTapSum(Function):
    """``out[b, j, f] = sum_p weight[m, j, p] * table[b, rows[m, j, p], f]``
    (``m = b`` for per-batch plans, else 0), differentiable in ``table``.

    Inputs: ``table`` ``(B, R, F)`` (float32, float16 or bfloat16),
    ``rows`` ``(M, J, P)`` (int32 or int64, in ``[0, R - 1]``), ``weight``
    ``(M, J, P)``. Sums in float32 (float64 for a float64 table). Output
    ``(B, J, F)`` in the table's dtype, or ``(B, F, J)`` with
    ``bags_first=False``.
    """

    @staticmethod
    def forward(ctx, table: Tensor, rows: Tensor, weight: Tensor,
                bags_first: bool = True) -> Tensor:
        check_device(table, "car_align impl='triton'", "impl='gather'")
        table = table.contiguous()
        rows = rows.contiguous()
        acc_dtype, acc = _accumulator(table.dtype)
        weight = weight.to(acc_dtype).contiguous()
        batch, num_rows, width = table.shape
        num_plans, num_bags, num_taps = rows.shape
        if bags_first:
            out = table.new_empty(batch, num_bags, width)
            stride_j, stride_f = out.stride(1), out.stride(2)
        else:
            out = table.new_empty(batch, width, num_bags)
            stride_j, stride_f = out.stride(2), out.stride(1)
        ctx.save_for_backward(rows, weight)
        ctx.table_shape = table.shape
        ctx.bags_first = bags_first
        if out.numel() == 0:  # no segments: nothing to launch
            return out
        plan_stride = num_bags * num_taps if num_plans > 1 else 0
        grid = (triton.cdiv(num_bags, _BLOCK_BAGS),
                triton.cdiv(width, _BLOCK_COLS), batch)
        _tap_sum_forward[grid](
            table, rows, weight, out, num_bags, num_taps, num_rows, width,
            plan_stride, out.stride(0), stride_j, stride_f,
            BLOCK_J=_BLOCK_BAGS, BLOCK_F=_BLOCK_COLS, ACC=acc)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor) -> tuple:
        if not ctx.needs_input_grad[0]:
            return None, None, None, None
        rows, weight = ctx.saved_tensors
        batch, num_rows, width = ctx.table_shape
        num_plans, num_bags, num_taps = rows.shape
        if rows.numel() == 0 or grad_out.numel() == 0:
            return grad_out.new_zeros(ctx.table_shape), None, None, None
        bags, sorted_weight, row_start = row_plan(rows, weight, num_rows)
        if ctx.bags_first:
            stride_j, stride_f = grad_out.stride(1), grad_out.stride(2)
        else:
            stride_j, stride_f = grad_out.stride(2), grad_out.stride(1)
        grad_table = grad_out.new_empty(batch, num_rows, width)
        grid = (num_rows, triton.cdiv(width, _BLOCK_COLS), batch)
        _tap_sum_backward[grid](
            grad_out, bags, sorted_weight, row_start, grad_table, num_rows,
            width, int(num_plans > 1), grad_out.stride(0), stride_j,
            stride_f,
            BLOCK_E=_BLOCK_TAPS, BLOCK_F=_BLOCK_COLS,
            ACC=_accumulator(grad_out.dtype)[1])
        return grad_table, None, None, None
