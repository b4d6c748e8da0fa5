# Copyright (c) rcl_mm contributors. All rights reserved.
"""Demo Results of the model zoo's metafiles, from the ablation's runs.

Usage:
  python tools/analysis/update_metafiles.py [--ablation-dir work_dirs/ablation]
      [--seeds 0 1 2] [--check]

Every demo model of the metafiles that model-index.yml imports (``Config``
under ``configs/demo/``) gets as ``Results`` the mean, over the finished
seeds, of the tools/analysis/ablation.py variant that trains and tests its
config unchanged (``bmn`` -> ``bmn_demo``, ``rcl_supp`` -> ``rcl_bmn_demo``,
``gtad`` -> ``gtad_demo``, ``rcl_gtad_supp`` -> ``rcl_gtad_demo``):
class-agnostic average mAP, mAP@0.5, mAP@0.75 and mAP@0.95 in percent and
the number of seeds (``seeds``). A demo model without a finished run, or
without such a variant (the THUMOS demos), gets ``Results: []``: no number
stays that the runs do not give. Only the demo models' ``Results`` and the
comment lines right above them change; every other line of a metafile is
kept as it is. ``--check`` writes nothing and exits with status 1 if a
metafile differs from what it would write.
"""
import argparse
import importlib.util
import os.path as osp
import re
import sys
import textwrap

import numpy as np
import yaml

from rcl_mm.utils.cli import (UserFileNotFoundError, UserValueError,
                              add_debug_argument, run_tool)
from rcl_mm.utils.io import atomic_write

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO_CONFIGS = 'configs/demo/'
TASK = 'Temporal Action Localization'
# The ablation trains and tests on the ActivityNet demo data
# (ablation.data_options).
ABLATION_DATASET = 'Synthetic demo (ActivityNet annotations)'
# Metafile metric name -> key of an ablation result.json.
METRICS = (
    ('class-agnostic average mAP', 'average_mAP'),
    ('class-agnostic mAP@0.5', 'mAP@0.50'),
    ('class-agnostic mAP@0.75', 'mAP@0.75'),
    ('class-agnostic mAP@0.95', 'mAP@0.95'),
)
SEEDS_METRIC = 'seeds'
SCRIPT = 'tools/analysis/update_metafiles.py'
MODEL_LINE = re.compile(r'  - Name: (\S+)\s*$')
RESULTS_LINE = re.compile(r'    Results:(\s.*)?$')


def load_ablation():
    """tools/analysis/ablation.py (its variants and result files)."""
    spec = importlib.util.spec_from_file_location(
        'ablation', osp.join(osp.dirname(osp.abspath(__file__)),
                             'ablation.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def config_variants(variants):
    """``{config: variant}`` of the variants that train and test a config
    as it is (no overrides, not test-only).

    Args:
        variants (dict): ``name -> (config, training overrides, base
            variant or None, test overrides)`` as ablation.VARIANTS.
    """
    found = {}
    for name, (config, train_options, base, test_options) in \
            variants.items():
        if train_options or test_options or base is not None:
            continue
        if config in found:
            raise ValueError(f'the ablation variants {found[config]} and '
                             f'{name} both run {config} unchanged; keep one')
        found[config] = name
    return found


def mean_results(ablation, variant, seeds, ablation_dir, dataset):
    """The metafile ``Results`` of one variant's finished runs.

    Args:
        ablation (module): tools/analysis/ablation.py.
        variant (str): Its variant.
        seeds (list[int]): Seeds to look for.
        ablation_dir (str): The ablation's work dir.
        dataset (str): The metafile's dataset name.

    Returns:
        tuple[list, list[int]]: ``[{Dataset, Task, Metrics}]`` (means
        rounded to 2 decimals, ``seeds``: how many) or ``[]`` if no run has
        finished, and the finished seeds.
    """
    runs = ablation.finished_runs(variant, seeds, ablation_dir)
    if not runs:
        return [], []
    metrics = {}
    for name, key in METRICS:
        values = []
        for seed, run in runs.items():
            value = run.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise UserValueError(
                    f'no number under {key!r}',
                    ablation.result_path(ablation_dir, variant, seed),
                    'delete the file and rerun the run with '
                    f'tools/analysis/ablation.py --variants {variant} '
                    f'--seeds {seed}')
            values.append(value)
        metrics[name] = round(float(np.mean(values)), 2)
    metrics[SEEDS_METRIC] = len(runs)
    return [dict(Dataset=dataset, Task=TASK, Metrics=metrics)], list(runs)


def comment(text):
    """Metafile comment lines at the models' key indentation."""
    return textwrap.wrap(text, 75, initial_indent='    # ',
                         subsequent_indent='    # ')


def render_results(results):
    """The ``Results`` lines of a model (4 spaces, as the metafiles)."""
    if not results:
        return ['    Results: []']
    lines = ['    Results:']
    for result in results:
        lines += [f'      - Dataset: {result["Dataset"]}',
                  f'        Task: {result["Task"]}', '        Metrics:']
        for name, value in result['Metrics'].items():
            text = str(value) if isinstance(value, int) else f'{value:.2f}'
            lines.append(f'          {name}: {text}')
    return lines


def model_blocks(lines, path):
    """``{model name: (first line, end line)}`` of the ``Models`` list."""
    try:
        first = lines.index('Models:') + 1
    except ValueError:
        raise UserValueError('no "Models:" line', path,
                             'keep the layout of docs/model_zoo.md') from None
    starts = []
    end = len(lines)
    for index in range(first, len(lines)):
        line = lines[index]
        if line and not line[0].isspace() and not line.startswith('#'):
            end = index  # the next top-level key
            break
        match = MODEL_LINE.match(line)
        if match:
            starts.append((match.group(1), index))
    blocks = {}
    for i, (name, start) in enumerate(starts):
        stop = starts[i + 1][1] if i + 1 < len(starts) else end
        blocks[name] = (start, stop)
    return blocks


def replace_results(lines, start, stop, new_lines, path, name):
    """``lines`` with the model's ``Results`` (and the comment lines right
    above it) between ``start`` and ``stop`` replaced by ``new_lines``."""
    heads = [i for i in range(start, stop) if RESULTS_LINE.match(lines[i])]
    if len(heads) != 1:
        raise UserValueError(
            f'model {name} has {len(heads)} "    Results:" lines', path,
            'give each model one Results key at the indentation of its '
            'other keys')
    head = heads[0]
    first = head
    while first > start and lines[first - 1].startswith('    #'):
        first -= 1
    last = head + 1
    while last < stop and (not lines[last].strip() or
                           lines[last].startswith('     ')):
        last += 1
    while last > head + 1 and not lines[last - 1].strip():
        last -= 1  # blank lines before the next model stay
    return lines[:first] + new_lines + lines[last:]


def updated_metafile(path, text, ablation, variants, seeds, ablation_dir):
    """The text ``path`` should have, and one report line per demo model.

    Args:
        path (str): The metafile (for messages).
        text (str): Its current text.
        ablation (module): tools/analysis/ablation.py.
        variants (dict): ``{config: variant}`` (:func:`config_variants`).
        seeds (list[int]): Seeds to look for.
        ablation_dir (str): The ablation's work dir.

    Returns:
        tuple[str, list[str]]: The new text, the report.
    """
    meta = yaml.safe_load(text)
    lines = text.split('\n')
    blocks = model_blocks(lines, path)
    expected, report = {}, []
    # From the last model up, so that earlier line numbers stay valid.
    for model in reversed(meta['Models']):
        config = model['Config']
        if not config.startswith(DEMO_CONFIGS):
            continue
        name = model['Name']
        if name not in blocks:
            raise UserValueError(f'model {name} is not a "  - Name: {name}" '
                                 'line of Models', path,
                                 'keep the layout of the other models')
        variant = variants.get(config)
        if variant is None:
            results = []
            note = (f'{SCRIPT}: no ablation variant runs {config} '
                    '(docs/ablation.md), so no demo Results.')
            report.append(f'{name}: no variant, no Results')
        else:
            dataset = model['Metadata']['Training Data']
            if dataset != ABLATION_DATASET:
                raise UserValueError(
                    f'the ablation variant {variant} runs on '
                    f'{ABLATION_DATASET!r}, model {name} is trained on '
                    f'{dataset!r}', path, 'fix its Training Data')
            results, done = mean_results(ablation, variant, seeds,
                                         ablation_dir, dataset)
            if results:
                seeds_text = ', '.join(map(str, done))
                note = (f'Written by {SCRIPT} from the ablation\'s variant '
                        f'{variant} (docs/ablation.md): class-agnostic mAP '
                        'on the demo validation set, mean of seeds '
                        f'{seeds_text}.')
                report.append(f'{name}: {variant}, seeds {seeds_text}')
            else:
                note = (f'{SCRIPT}: no finished run of the ablation\'s '
                        f'variant {variant} (docs/ablation.md), so no demo '
                        'Results.')
                report.append(f'{name}: {variant}, no finished run, '
                              'no Results')
        expected[name] = results
        start, stop = blocks[name]
        lines = replace_results(lines, start, stop,
                                comment(note) + render_results(results),
                                path, name)
    new_text = '\n'.join(lines)
    # The new file must parse to the old one with only those Results
    # changed.
    new_meta = yaml.safe_load(new_text)
    for model in meta['Models']:
        if model['Name'] in expected:
            model['Results'] = expected[model['Name']]
    if new_meta != meta:
        raise RuntimeError(f'{path}: the rewritten metafile does not parse '
                           'to the expected models')
    return new_text, report[::-1]


def update_metafiles(root, ablation_dir, seeds, write=True):
    """Bring the demo Results of every metafile in line with the ablation.

    Args:
        root (str): The folder of model-index.yml (the repository).
        ablation_dir (str): The ablation's work dir.
        seeds (list[int]): Seeds to average over (those finished).
        write (bool): Write the files that differ (atomically); False
            only compares.

    Returns:
        tuple[list[str], list[str]]: The metafiles (relative to ``root``)
        that differed, and one report line per demo model.
    """
    ablation = load_ablation()
    variants = config_variants(ablation.VARIANTS)
    index_path = osp.join(root, 'model-index.yml')
    with open(index_path, encoding='utf-8') as f:
        index = yaml.safe_load(f)
    differ, report = [], []
    for metafile in index['Import']:
        path = osp.join(root, metafile)
        with open(path, encoding='utf-8') as f:
            text = f.read()
        new_text, lines = updated_metafile(metafile, text, ablation,
                                           variants, seeds, ablation_dir)
        report += [f'{metafile} {line}' for line in lines]
        if new_text != text:
            differ.append(metafile)
            if write:
                with atomic_write(path) as f:
                    f.write(new_text)
    return differ, report


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--ablation-dir', default='work_dirs/ablation',
                        help='the work dir of tools/analysis/ablation.py')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--check', action='store_true',
                        help='write nothing; exit 1 if a metafile differs')
    add_debug_argument(parser)
    return parser.parse_args()


def main():
    args = parse_args()
    ablation_dir = osp.join(ROOT, args.ablation_dir)
    if not osp.isdir(ablation_dir):
        # A mistyped folder would otherwise remove every demo result.
        raise UserFileNotFoundError(
            'no such folder', args.ablation_dir,
            'give the --work-dir of tools/analysis/ablation.py (an empty '
            'folder removes every demo result)')
    differ, report = update_metafiles(ROOT, ablation_dir, args.seeds,
                                      write=not args.check)
    print('\n'.join(report))
    if args.check:
        if differ:
            print(f'differ from the ablation\'s results: {", ".join(differ)}'
                  f' (run {SCRIPT} without --check)')
            return 1
        print('the metafiles are up to date')
    elif differ:
        print(f'written: {", ".join(differ)}')
    return None


if __name__ == '__main__':
    sys.exit(run_tool(main))
