# Copyright (c) rcl_mm contributors. All rights reserved.
"""Benchmark suite: speed and memory of mmaction2's BMN and our models.

The library behind ``tools/analysis/benchmark.py`` (its options are the
command line's; docs/benchmark.md holds the numbers).

Parts (``--parts``, all by default):

- ``train``: a training step (forward, loss, backward, Adam) at batch
  ``--batch``, mean over ``--steps`` after ``--warmup`` steps, and the peak
  memory (CPU: the process's peak RSS; CUDA: ``max_memory_allocated``).
- ``pair``: each RCL model against its base (``rcl_bmn`` and
  ``rcl_bmn_light`` vs ``bmn``, ``rcl_gtad`` vs ``gtad``) in one
  process, training steps alternated for ``--pair-rounds`` rounds (the
  order swapped every round): the median of the per-round step ratios,
  so that drift of the machine's speed, which moves separate runs by tens
  of percent on shared machines, cancels. The "RCL step <= 1.3x" targets
  (the light RRM's ``rcl_bmn_light``) use it where it ran; ``rcl_bmn``'s
  (the supplement's RRM) ratio is reported, with no target.
- ``infer``: forward (``mode='tensor'``) at batch 1 and at ``--batch``, and
  the prediction of one video (``mode='predict'``: forward, candidates,
  Soft-NMS, top-k).
- ``post``: post-processing per video on BMN-like smooth maps and on
  worst-case noise maps, ours (1 and ``--batch`` videos) and mmaction2's
  numpy code (where its map size applies, D = T). ActivityNet: candidate
  selection + Soft-NMS + top-k; THUMOS14: the candidates of a video's
  windows merged, then Soft-NMS + top-k.
- ``op``: CARAlign (BM layer fused with its 3-D convolution) forward +
  backward against mmaction2's dense sampling mask + conv3d.
- ``eval``: the ActivityNet validation set with 100 labelled predictions
  per video (492,600; seeded) evaluated by ``eval_detection.py`` and by
  mmaction2's ``ActivityNetLocalization``.
- ``demo``: the Runner's test loop over the demo validation split
  (``configs/demo/*``), seeded weights or ``--demo-checkpoint``.
- ``extract``: snippets per second of feature extraction
  (:func:`rcl_mm.apis.feature_extraction.measure_extraction_throughput`,
  random clips and weights, ``--extract-snippets`` after a warm-up
  batch): the tiny test extractor, and on CUDA also TSN ResNet-50
  (``EXTRACT_CONFIGS``).

On the CPU, ``--reuse-freed-memory`` measures with freed memory kept for
reuse in every worker, as training with ``ReuseFreedMemoryHook`` (our
default runtime) runs; without it, glibc's defaults (large tensors are
page-faulted in afresh at every step).

Models (``--models``): ``mmaction2`` (mmaction2's BMN), ``bmn`` (ours, with
mmaction2's weights converted where D = T, so outputs are compared),
``rcl_bmn`` (10 iterations of the supplement's RRM, RAFT's
SmallUpdateBlock: configs/rcl_bmn_anet.py), ``rcl_bmn_light`` (10
iterations of the light update block: configs/rcl_bmn_anet_light_rrm.py),
``gtad``, ``rcl_gtad``. Settings (``--settings``): ``anet`` (T = D = 100,
400-d) and ``thumos`` (T = 256, D = 64, 2048-d). Every (setting, model)
and every op case runs in a fresh subprocess (:mod:`.worker`), so peak
memory is its own.

Modules: :mod:`.config` (parts, models, settings, targets), :mod:`.models`
(the seeded models, batch, training step), :mod:`.timing`,
:mod:`.measure` (train, pair, infer, post, op, demo, extract),
:mod:`.evaluation` (eval), :mod:`.report` (ratios, verdicts, tables),
:mod:`.suite` (the run) and :mod:`.worker`.
"""
from .config import (CONFIGS, DEFAULT_GT, DEMO_CONFIGS, EXTRACT_CONFIGS, GIB,
                     MODELS, PAIRS, PARTS, POST_TARGET, ROOT, SETTINGS,
                     TARGETS, TINY, setting_params)
from .evaluation import mmaction2_layout, run_eval, synthetic_predictions
from .measure import (demo_missing, measure_demo, measure_extraction,
                      measure_model, measure_op, measure_pairs, measure_post,
                      op_cases, output_errors, windowed_post_process)
from .models import build_model, make_batch, training_step
from .report import add_ratios, derive, format_tables, summary_lines
from .suite import run_suite, run_worker

__all__ = [
    'CONFIGS', 'DEFAULT_GT', 'DEMO_CONFIGS', 'EXTRACT_CONFIGS', 'GIB',
    'MODELS', 'PAIRS', 'PARTS', 'POST_TARGET', 'ROOT', 'SETTINGS', 'TARGETS',
    'TINY', 'add_ratios', 'build_model', 'demo_missing', 'derive',
    'format_tables', 'make_batch', 'measure_demo', 'measure_extraction',
    'measure_model', 'measure_op', 'measure_pairs', 'measure_post',
    'mmaction2_layout', 'op_cases', 'output_errors', 'run_eval', 'run_suite',
    'run_worker', 'setting_params', 'summary_lines', 'synthetic_predictions',
    'training_step', 'windowed_post_process'
]
