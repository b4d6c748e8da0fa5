# Copyright (c) rcl_mm contributors. All rights reserved.
"""Ablation of RCL on the demo data: train and test variants over seeds.

Usage:
  python tools/analysis/ablation.py [--variants bmn rcl ...] [--seeds 0 1 2]
      [--data-dir data/demo/features] [--work-dir work_dirs/ablation]
      [--jobs 1] [--summary-only] [--export-results DIR]

Each (variant, seed) trains the demo config with ``randomness.seed`` set
to the seed and tests it on the demo validation set; its average mAP
(tIoU 0.5:0.05:0.95, class-agnostic: every label is 'action', with
mmaction2's ``ActivityNetLocalization``) goes to
``WORK_DIR/<variant>/seed<k>/result.json``, so an interrupted run resumes
(runs whose log is younger than 5 minutes are taken to be still going and
are skipped; a trained run whose test did not finish is only re-tested)
and ``--summary-only`` tabulates whatever has finished. Test-only
variants (other inference settings) reuse the checkpoint of their base
variant.
The table gives mean and standard deviation (ddof = 1) over seeds;
tools/analysis/update_metafiles.py writes the demo models' metafile
Results from the same result files. ``--export-results DIR`` copies the
finished runs' result files (only those) to DIR in the same layout; the
repository keeps the documented runs' files under docs/ablation/results,
and ``--summary-only --work-dir docs/ablation/results`` prints the tables
of docs/ablation.md from them.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from rcl_mm.utils.cli import UserValueError, add_debug_argument, run_tool
from rcl_mm.utils.io import atomic_write

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BMN_DEMO = 'configs/demo/bmn_demo.py'
RCL_DEMO = 'configs/demo/rcl_bmn_demo.py'
GTAD_DEMO = 'configs/demo/gtad_demo.py'
RCL_GTAD_DEMO = 'configs/demo/rcl_gtad_demo.py'
# The light RRM of the demo, as configs/demo/rcl_bmn_demo.py had it before
# the supplement's RRM became the default (configs/rcl_bmn_anet_light_rrm.py
# at the demo's size).
LIGHT_RRM = {
    'model.neck.update_block': 'light',
    'model.neck.map_channels': 8,
    'model.neck.feat_channels': 8,
    'model.neck.head_channels': 16,
    'model.neck.stride': 5,
}
BMN_SCORING = {'model.test_cfg.scoring': 'bmn'}
# Soft-NMS decaying every overlap (G-TAD's rule of decay), not only those
# above BMN's width-dependent threshold (0.5 to 0.9).
EVERY_OVERLAP_NMS = {
    'model.test_cfg.soft_nms_low_threshold': 0.0,
    'model.test_cfg.soft_nms_high_threshold': 0.0
}
# name -> (config, training overrides, base variant of a test-only
# variant or None, test overrides). The demo RCL runs 5 RRM iterations.
# Names say what they are against the supplement's RCL (``rcl_supp``:
# its RRM, RAFT's SmallUpdateBlock, and its scoring, reg x cls of every
# anchor); the names of the runs before it was the default (``rcl``,
# ``rcl_iters<n>``, ... with the light RRM and BMN's scoring) are retired
# so that no name changes its meaning (docs/ablation.md).
VARIANTS = {
    'bmn': (BMN_DEMO, {}, None, {}),
    'rcl_supp': (RCL_DEMO, {}, None, {}),
    'rcl_supp_bmn_scoring': (RCL_DEMO, {}, 'rcl_supp', BMN_SCORING),
    'rcl_light': (RCL_DEMO, LIGHT_RRM, None, {}),
    'rcl_light_bmn_scoring': (RCL_DEMO, LIGHT_RRM, 'rcl_light', BMN_SCORING),
    'rcl_supp_iters0': (RCL_DEMO, {'model.neck.iters': 0}, None, {}),
    'rcl_supp_iters1': (RCL_DEMO, {'model.neck.iters': 1}, None, {}),
    'rcl_supp_iters10': (RCL_DEMO, {'model.neck.iters': 10}, None, {}),
    'rcl_supp_iters15': (RCL_DEMO, {'model.neck.iters': 15}, None, {}),
    'rcl_supp_si_anchors': (RCL_DEMO, {}, 'rcl_supp', {
        'model.test_cfg.anchors': 'scale_invariant'
    }),
    'bmn_nms_every_overlap': (BMN_DEMO, {}, 'bmn', EVERY_OVERLAP_NMS),
    'rcl_supp_nms_every_overlap': (RCL_DEMO, {}, 'rcl_supp',
                                   EVERY_OVERLAP_NMS),
    'rcl_gtad_supp_nms_every_overlap': (RCL_GTAD_DEMO, {}, 'rcl_gtad_supp',
                                        EVERY_OVERLAP_NMS),
    'rcl_supp_bilinear': (RCL_DEMO, {'model.head.mode': 'bilinear'}, None,
                          {}),
    'rcl_supp_exact': (RCL_DEMO, {'model.head.mode': 'exact'}, None, {}),
    'rcl_supp_grid_sampling': (RCL_DEMO, {'model.train_cfg.sampler': None},
                               None, {}),
    'gtad': (GTAD_DEMO, {}, None, {}),
    'rcl_gtad_supp': (RCL_GTAD_DEMO, {}, None, {}),
}
# A log younger than this belongs to a run that is still going.
RUNNING_SECONDS = 300
# The supplement's RCL against BMN, its scoring and RRM against ours, then
# the iteration sweep of the supplement's Table 1 (5 iterations is
# ``rcl_supp``); the rest after.
DEFAULT_ORDER = [
    'bmn', 'rcl_supp', 'rcl_supp_bmn_scoring', 'rcl_light',
    'rcl_light_bmn_scoring', 'rcl_supp_iters0', 'rcl_supp_iters1',
    'rcl_supp_iters10', 'rcl_supp_iters15', 'gtad', 'rcl_gtad_supp',
    'rcl_supp_si_anchors', 'bmn_nms_every_overlap',
    'rcl_supp_nms_every_overlap', 'rcl_gtad_supp_nms_every_overlap',
    'rcl_supp_grid_sampling', 'rcl_supp_bilinear', 'rcl_supp_exact'
]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--variants', nargs='+', default=DEFAULT_ORDER,
                        choices=sorted(VARIANTS))
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--data-dir', default='data/demo/features')
    parser.add_argument('--work-dir', default='work_dirs/ablation')
    parser.add_argument('--jobs', type=int, default=1,
                        help='runs in parallel (each with its own process)')
    parser.add_argument('--summary-only', action='store_true')
    parser.add_argument(
        '--export-results', metavar='DIR',
        help='copy the finished runs\' result.json files to DIR (as the '
        'repository keeps them under docs/ablation/results)')
    parser.add_argument('--run-one', nargs=2, metavar=('VARIANT', 'SEED'),
                        help=argparse.SUPPRESS)
    add_debug_argument(parser)
    return parser.parse_args()


def class_agnostic_map(results_file, ann_file, out_dir):
    """Average mAP at tIoU 0.5:0.05:0.95 with every label 'action'.

    Args:
        results_file (str): ``{'results': {video_id: [{'segment',
            'score'}]}}`` as the test evaluator dumps it.
        ann_file (str): mmaction2 annotations (``v_<id>`` keys).
        out_dir (str): Where the two official-format files are written.

    Returns:
        dict: ``average_mAP`` and ``mAP@<t>`` per threshold, in percent.
    """
    from mmaction.evaluation.functional import ActivityNetLocalization
    with open(ann_file) as f:
        annotations = json.load(f)
    # mmaction2's evaluator reads its own annotation layout (``v_<id>``
    # keys, the prefix stripped) rather than the official database file.
    agnostic = {
        name: dict(annotations=[
            dict(segment=a['segment'], label='action')
            for a in info['annotations']
        ])
        for name, info in annotations.items()
    }
    with open(results_file) as f:
        results = json.load(f)['results']
    preds = {
        video_id: [dict(d, label='action') for d in dets]
        for video_id, dets in results.items()
    }
    gt_file = osp.join(out_dir, 'gt_agnostic.json')
    pred_file = osp.join(out_dir, 'pred_agnostic.json')
    with open(gt_file, 'w') as f:
        json.dump(agnostic, f)
    with open(pred_file, 'w') as f:
        json.dump(dict(results=preds), f)
    thresholds = np.linspace(0.5, 0.95, 10)
    evaluator = ActivityNetLocalization(gt_file, pred_file, thresholds)
    maps, average = evaluator.evaluate()
    metrics = {'average_mAP': 100 * float(average)}
    for t, value in zip(thresholds, maps):
        metrics[f'mAP@{t:.2f}'] = 100 * float(value)
    return metrics


def data_options(data_dir):
    """Point every dataloader of a demo config at ``data_dir``."""
    options = {}
    for split, ann in (('train', 'anet_anno_train.json'),
                       ('val', 'anet_anno_val.json'),
                       ('test', 'anet_anno_val.json')):
        options[f'{split}_dataloader.dataset.ann_file'] = osp.join(
            data_dir, ann)
        options[f'{split}_dataloader.dataset.data_prefix.video'] = osp.join(
            data_dir, 'csv_mean_100')
    return options


def run_one(variant, seed, data_dir, work_dir):
    """Train (or reuse) and test one variant with one seed."""
    from mmengine.runner import Runner

    from rcl_mm.utils.launch import evaluator_results_file, prepare_config
    config, train_options, base, test_options = VARIANTS[variant]
    run_dir = osp.join(work_dir, variant, f'seed{seed}')
    os.makedirs(run_dir, exist_ok=True)
    options = data_options(data_dir)
    options.update(train_options)
    options.update(test_options)
    options['randomness.seed'] = seed
    cfg = prepare_config(osp.join(ROOT, config), work_dir=run_dir,
                         cfg_options=options)
    tic = time.time()
    earlier_seconds = 0.0
    if base is not None:
        checkpoint = osp.join(work_dir, base, f'seed{seed}', 'final.pth')
        if not osp.exists(checkpoint):
            raise FileNotFoundError(f'{variant} tests the checkpoint of '
                                    f'{base}; run {base} first.')
        cfg.load_from = checkpoint
        runner = Runner.from_cfg(cfg)
    elif osp.exists(osp.join(run_dir, 'final.pth')):
        # Trained before, but the test or the evaluation did not finish.
        cfg.load_from = osp.join(run_dir, 'final.pth')
        train_seconds = osp.join(run_dir, 'train_seconds.json')
        if osp.exists(train_seconds):
            with open(train_seconds) as f:
                earlier_seconds = json.load(f)
        runner = Runner.from_cfg(cfg)
    else:
        runner = Runner.from_cfg(cfg)
        runner.train()
        runner.save_checkpoint(run_dir, 'final.pth', save_optimizer=False,
                               save_param_scheduler=False)
        with open(osp.join(run_dir, 'train_seconds.json'), 'w') as f:
            json.dump(time.time() - tic, f)
    runner.test()
    metrics = class_agnostic_map(evaluator_results_file(cfg),
                                 osp.join(data_dir, 'anet_anno_val.json'),
                                 run_dir)
    metrics['seconds'] = time.time() - tic + earlier_seconds
    # Atomic: a result.json marks the run finished (a rerun skips it).
    with atomic_write(result_path(work_dir, variant, seed)) as f:
        json.dump(metrics, f, indent=1)
    return metrics


def result_path(work_dir, variant, seed):
    """``WORK_DIR/<variant>/seed<k>/result.json``, written when a run's
    test has finished."""
    return osp.join(work_dir, variant, f'seed{seed}', 'result.json')


def finished_runs(variant, seeds, work_dir):
    """The results of the finished runs of one variant.

    Args:
        variant (str): A name of :data:`VARIANTS`.
        seeds (list[int]): The seeds to look for.
        work_dir (str): The ablation's work dir.

    Returns:
        dict: ``{seed: result}`` in the order of ``seeds``, for the seeds
        whose ``result.json`` exists; a result is the dict
        :func:`run_one` wrote (``average_mAP``, ``mAP@<t>`` in percent,
        ``seconds``).
    """
    runs = {}
    for seed in seeds:
        path = result_path(work_dir, variant, seed)
        if not osp.exists(path):
            continue
        try:
            with open(path) as f:
                result = json.load(f)
        except ValueError as error:
            raise UserValueError(
                f'not a JSON file ({error})', path,
                'delete it and rerun the run (tools/analysis/ablation.py '
                f'--variants {variant} --seeds {seed})') from None
        if not isinstance(result, dict):
            raise UserValueError(
                'not a result (a JSON object of metrics expected)', path,
                'delete it and rerun the run')
        runs[seed] = result
    return runs


def summarize(variants, seeds, work_dir):
    """The two Markdown tables of docs/ablation.md's results.

    The first: mean +- sample std over the finished seeds of average mAP,
    mAP@0.5 and mAP@0.75, and the mean wall time of a run; the second:
    average mAP per seed and the mean mAP@0.95. A variant without a
    finished run has a row of ``-``.

    Args:
        variants (list[str]): Rows, in order.
        seeds (list[int]): The seeds to look for (the second table's
            columns).
        work_dir (str): The ablation's work dir (or a folder of its
            ``<variant>/seed<k>/result.json`` files).

    Returns:
        str: The tables, a blank line and a caption between them.
    """
    lines = [
        '| variant | seeds | avg mAP | mAP@0.5 | mAP@0.75 | s / run |',
        '|---|---|---|---|---|---|'
    ]
    per_seed = [
        '| variant | ' + ' | '.join(f'seed {s}' for s in seeds) +
        ' | mAP@0.95 (mean) |', '|---|' + '---|' * (len(seeds) + 1)
    ]
    for variant in variants:
        finished = finished_runs(variant, seeds, work_dir)
        runs = list(finished.values())
        if not runs:
            lines.append(f'| {variant} | 0 | - | - | - | - |')
            per_seed.append(f'| {variant} |' + ' - |' * (len(seeds) + 1))
            continue

        def stat(key):
            values = np.array([r[key] for r in runs])
            if len(values) == 1:
                return f'{values[0]:.2f}'  # no spread from one seed
            return f'{values.mean():.2f} ± {values.std(ddof=1):.2f}'

        seconds = np.mean([r['seconds'] for r in runs])
        lines.append(f'| {variant} | {len(runs)} | {stat("average_mAP")} | '
                     f'{stat("mAP@0.50")} | {stat("mAP@0.75")} | '
                     f'{seconds:.0f} |')
        cells = [
            f'{finished[s]["average_mAP"]:.2f}' if s in finished else '-'
            for s in seeds
        ]
        strict = [r['mAP@0.95'] for r in runs if 'mAP@0.95' in r]
        cells.append(f'{np.mean(strict):.2f}' if strict else '-')
        per_seed.append(f'| {variant} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines + ['', 'Per seed (average mAP):', ''] +
                     per_seed)


def export_results(variants, seeds, work_dir, out_dir):
    """Copy the finished runs' ``result.json`` files, and nothing else.

    ``OUT_DIR/<variant>/seed<k>/result.json`` (the work dir's layout), so
    that :func:`summarize` and tools/analysis/update_metafiles.py read the
    copy as they read the work dir; the repository keeps the results of
    its documented runs this way (docs/ablation/results/).

    Args:
        variants (list[str]): Variants to copy.
        seeds (list[int]): Seeds to copy.
        work_dir (str): The ablation's work dir.
        out_dir (str): Where the copies go.

    Returns:
        list[str]: The files written.
    """
    written = []
    for variant in variants:
        for seed, result in finished_runs(variant, seeds, work_dir).items():
            path = result_path(out_dir, variant, seed)
            with atomic_write(path) as f:
                json.dump(result, f, indent=1)
                f.write('\n')
            written.append(path)
    return written


def main():
    args = parse_args()
    data_dir = osp.join(ROOT, args.data_dir)
    work_dir = osp.join(ROOT, args.work_dir)
    if args.run_one:
        run_one(args.run_one[0], int(args.run_one[1]), data_dir, work_dir)
        return
    if not args.summary_only:
        if not osp.exists(osp.join(data_dir, 'anet_anno_val.json')):
            from rcl_mm.datasets.synthetic import synthesize_demo_dataset
            synthesize_demo_dataset(data_dir)
        # Variants outermost, in order of importance: a partial run has
        # the main comparisons over all seeds first.
        jobs = [(v, s) for v in args.variants for s in args.seeds]

        def launch(job):
            variant, seed = job
            done = result_path(work_dir, variant, seed)
            log = osp.join(work_dir, f'{variant}_seed{seed}.log')
            if osp.exists(done) or (osp.exists(log) and time.time() -
                                    osp.getmtime(log) < RUNNING_SECONDS):
                # Finished, or still running from an earlier invocation
                # (its log was written to recently).
                return
            os.makedirs(work_dir, exist_ok=True)
            with open(log, 'w') as f:
                subprocess.run([
                    sys.executable, __file__, '--run-one', variant,
                    str(seed), '--data-dir', args.data_dir, '--work-dir',
                    args.work_dir
                ], stdout=f, stderr=subprocess.STDOUT, cwd=ROOT)
            print(f'{variant} seed {seed}: '
                  f'{"done" if osp.exists(done) else "FAILED, see " + log}',
                  flush=True)

        if args.jobs == 1:
            for job in jobs:
                launch(job)
        else:
            # Test-only variants wait for their base in the same worker
            # only if ordered after it; with several workers keep them
            # for a second pass.
            first = [j for j in jobs if VARIANTS[j[0]][2] is None]
            second = [j for j in jobs if VARIANTS[j[0]][2] is not None]
            with ThreadPoolExecutor(args.jobs) as pool:
                list(pool.map(launch, first))
            for job in second:
                launch(job)
    if args.export_results:
        written = export_results(args.variants, args.seeds, work_dir,
                                 osp.join(ROOT, args.export_results))
        print(f'{len(written)} result files written to '
              f'{args.export_results}')
    print(summarize(args.variants, args.seeds, work_dir))


if __name__ == '__main__':
    sys.exit(run_tool(main))
