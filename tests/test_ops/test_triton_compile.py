# Copyright (c) rcl_mm contributors. All rights reserved.
"""The Triton kernels compile for an H100 (sm_90), without a GPU.

Triton's NVIDIA backend ships ``ptxas`` and ``cuobjdump``, so the kernels
are compiled to cubins here exactly as a GPU would get them, and their
register use is read back: what the interpreter tests cannot show
(whether the code is valid for the real compiler, and whether the state
meant to live in registers spills). The compiling runs in a child process
without ``TRITON_INTERPRET`` (Triton fixes its mode at import).
"""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

triton = pytest.importorskip('triton')

BIN = osp.join(osp.dirname(triton.__file__), 'backends', 'nvidia', 'bin')
pytestmark = pytest.mark.skipif(
    not osp.isfile(osp.join(BIN, 'ptxas')),
    reason="needs Triton's NVIDIA backend (ptxas)")

# Compiles every case, prints {case: {REG, STACK, LOCAL}} as JSON.
CHILD = r'''
import json, os.path as osp, subprocess, sys, tempfile
import triton, triton.language as tl
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
import rcl_mm.ops.car_align_triton as car
import rcl_mm.ops.soft_nms_triton as nms

BIN = osp.join(osp.dirname(triton.__file__), 'backends', 'nvidia', 'bin')
H100 = GPUTarget('cuda', 90, 32)


def usage(fn, signature, constexprs, **options):
    kernel = triton.compile(
        ASTSource(fn=fn, signature=signature, constexprs=constexprs),
        target=H100, options=options)
    with tempfile.NamedTemporaryFile(suffix='.cubin') as f:
        f.write(kernel.asm['cubin'])
        f.flush()
        out = subprocess.run([osp.join(BIN, 'cuobjdump'),
                              '--dump-resource-usage', f.name],
                             capture_output=True, text=True,
                             check=True).stdout
    line = next(ln for ln in out.splitlines() if 'REG:' in ln)
    return {k: int(v) for k, v in (item.split(':')[:2]
                                   for item in line.split())
            if k in ('REG', 'STACK', 'LOCAL')}


results = {}
for dtype in ('fp32', 'bf16', 'fp16'):
    blocks = dict(BLOCK_F=car._BLOCK_COLS, ACC=tl.float32)
    results['car_forward_' + dtype] = usage(
        car._tap_sum_forward,
        dict(table_ptr='*' + dtype, rows_ptr='*i64', weight_ptr='*fp32',
             out_ptr='*' + dtype, num_bags='i32', num_taps='i32',
             num_rows='i32', width='i32', plan_stride='i32',
             out_stride_b='i32', out_stride_j='i32', out_stride_f='i32',
             BLOCK_J='constexpr', BLOCK_F='constexpr', ACC='constexpr'),
        dict(blocks, BLOCK_J=car._BLOCK_BAGS))
    results['car_backward_' + dtype] = usage(
        car._tap_sum_backward,
        dict(grad_ptr='*' + dtype, bags_ptr='*i32', weight_ptr='*fp32',
             row_start_ptr='*i64', grad_table_ptr='*' + dtype,
             num_rows='i32', width='i32', per_batch_plan='i32',
             grad_stride_b='i32', grad_stride_j='i32', grad_stride_f='i32',
             BLOCK_E='constexpr', BLOCK_F='constexpr', ACC='constexpr'),
        dict(blocks, BLOCK_E=car._BLOCK_TAPS))
for num_k in (300, 1511, 8192):
    options = nms.launch_options(num_k)
    results[f'soft_nms_{num_k}'] = usage(
        nms._soft_nms_picks,
        dict(score_ptr='*fp64', start_ptr='*fp64', end_ptr='*fp64',
             width_ptr='*fp64', thresh_ptr='*fp64', valid_ptr='*i8',
             out_score_ptr='*fp64', out_index_ptr='*i32', num_k='i32',
             num_picks='i32', neg_alpha_ptr='*fp64',
             BLOCK_K='constexpr'),
        dict(BLOCK_K=options['BLOCK_K']), num_warps=options['num_warps'])
print('USAGE ' + json.dumps(results))
'''


@pytest.fixture(scope='module')
def usage():
    env = {k: v for k, v in os.environ.items() if k != 'TRITON_INTERPRET'}
    proc = subprocess.run([sys.executable, '-c', CHILD], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines()
                if ln.startswith('USAGE '))
    return json.loads(line[len('USAGE '):])


@pytest.mark.parametrize('dtype', ['fp32', 'bf16', 'fp16'])
def test_car_align_kernels_compile_without_spills(usage, dtype):
    for kind in ('forward', 'backward'):
        used = usage[f'car_{kind}_{dtype}']
        assert used['STACK'] == 0 and used['LOCAL'] == 0, used
        assert 0 < used['REG'] <= 255


@pytest.mark.parametrize('num_k, spills', [(300, False), (1511, False),
                                           (8192, True)])
def test_soft_nms_kernel_compiles(usage, num_k, spills):
    """Up to 2,048 candidates (ANet's noise maps give 1,511 per video)
    the state stays in registers; 8,192 compile too, spilling to the
    cached local stack."""
    used = usage[f'soft_nms_{num_k}']
    assert (used['STACK'] > 0) == spills, used
