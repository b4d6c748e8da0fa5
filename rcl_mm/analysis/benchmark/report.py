# Copyright (c) rcl_mm contributors. All rights reserved.
"""Ratios, target verdicts and the printed tables of a benchmark report.

Standard library and terminaltables only: a saved report is formatted
without torch.
"""
import os.path as osp
from typing import List, Optional

from terminaltables import AsciiTable

from .config import GIB, POST_TARGET, TARGETS


def add_ratios(rows: List[dict]) -> None:
    """Speed-up and memory ratio against mmaction2's BMN, step ratio
    against our BMN, of each row with a row to compare at its setting (in
    place)."""
    by_key = {(r['setting'], r['model']): r for r in rows}
    for row in rows:
        mm = by_key.get((row['setting'], 'mmaction2'))
        bmn = by_key.get((row['setting'], 'bmn'))
        if mm and row['model'] != 'mmaction2':
            if 'train_step_s' in row and 'train_step_s' in mm:
                row['train_speedup_vs_mmaction2'] = (
                    mm['train_step_s'] / row['train_step_s'])
            if 'peak_bytes' in row and 'peak_bytes' in mm and \
                    'train_step_s' in mm:
                row['peak_ratio_vs_mmaction2'] = (
                    row['peak_bytes'] / mm['peak_bytes'])
        if bmn and row['model'] not in ('mmaction2', 'bmn') and \
                'train_step_s' in row and 'train_step_s' in bmn:
            row['train_ratio_vs_bmn'] = (
                row['train_step_s'] / bmn['train_step_s'])


def _post_verdict(post: dict, device_type: str) -> List[dict]:
    """The post-processing target: the worst batch-1 case of ours."""
    name, setting, device, bound = POST_TARGET
    if device != device_type or setting not in post:
        return []
    value = max(v for k, v in post[setting].items()
                if k.endswith('_b1_ms_per_video')
                and not k.startswith('mmaction2'))
    return [dict(target=name, setting=setting, model='post-processing',
                 value=value, bound=bound, passed=value <= bound)]


def derive(rows, post, device_type, paired=None):
    """Ratios and target verdicts of the model rows (in place).

    Args:
        rows (list[dict]): One dict per (setting, model) with the worker's
            measurements.
        post (dict): Post-processing results by setting.
        device_type (str): ``'cpu'`` or ``'cuda'``: which targets apply.
        paired (dict, optional): The pair part's results by setting (lists
            of dicts with ``model`` and ``ratio_median``). Where a model
            has one, its ``train_ratio_vs_bmn`` target is judged on it
            (the separate runs' ratio stays in its row).

    Returns:
        list[dict]: Target verdicts: name, setting, model, value, bound,
        passed.
    """
    add_ratios(rows)
    by_key = {(r['setting'], r['model']): r for r in rows}
    paired_ratio = {(setting, p['model']): p['ratio_median']
                    for setting, pairs in (paired or {}).items()
                    for p in pairs}
    verdicts = []
    for name, setting, device, model, key, bound, how in TARGETS:
        row = by_key.get((setting, model))
        if device != device_type:
            continue
        if key == 'train_ratio_vs_bmn' and (setting, model) in paired_ratio:
            value = paired_ratio[(setting, model)]
            if row is None:
                row = dict(setting=setting, model=model)
            name += ' (paired)'
        elif row is None or key not in row:
            continue
        else:
            value = row[key]
        passed = value >= bound if how == 'min' else value <= bound
        # The speed target is at equal outputs.
        if key == 'train_speedup_vs_mmaction2' and not row.get(
                'equal_outputs', False):
            passed = False
        row.setdefault('targets', []).append(
            f'{name}: {"PASS" if passed else "FAIL"}')
        verdicts.append(dict(target=name, setting=setting, model=model,
                             value=value, bound=bound, passed=passed))
    verdicts += _post_verdict(post, device_type)
    return verdicts


def _num(value, fmt: str, scale: float = 1.0) -> str:
    """``value * scale`` formatted, or ``'-'`` where it is missing."""
    return '-' if value is None else format(value * scale, fmt)


def paired_table(paired: dict, batch: int) -> str:
    """The ``pair`` part: step ratio median and quartiles per pair."""
    table = [['setting', 'base', 'model', 'rounds', 'base s/step',
              'model s/step', 'step ratio median [q25, q75]']]
    for setting, pairs in paired.items():
        for p in pairs:
            table.append([
                setting, p['base'], p['model'], p['rounds'],
                f'{p["base_median_s"]:.4f}', f'{p["model_median_s"]:.4f}',
                f'{p["ratio_median"]:.3f} [{p["ratio_q25"]:.3f}, '
                f'{p["ratio_q75"]:.3f}]'
            ])
    return AsciiTable(table,
                      f' paired training steps, batch {batch} ').table


def _model_row(r: dict, post: dict, batch: int) -> list:
    """One row of :func:`models_table`."""
    p = post.get(r['setting'], {})
    prefix = 'mmaction2_' if r['model'] == 'mmaction2' else ''
    smooth = p.get(f'{prefix}smooth_b1_ms_per_video')
    noise = p.get(f'{prefix}noise_b1_ms_per_video')
    vs_mm = ''
    if 'train_speedup_vs_mmaction2' in r:
        vs_mm = f'{r["train_speedup_vs_mmaction2"]:.1f}x'
        if 'peak_ratio_vs_mmaction2' in r:
            vs_mm += f' / {r["peak_ratio_vs_mmaction2"]:.3f}'
    return [
        r['setting'], r['model'], _num(r.get('train_step_s'), '.4f'),
        _num(r.get('peak_bytes'), '.2f', 1 / GIB),
        _num(r.get('infer_batch1_s'), '.4f'),
        _num(r.get(f'infer_batch{batch}_s'), '.4f'),
        _num(r.get('predict_one_video_s'), '.4f'),
        '-' if smooth is None else f'{smooth:.2f} / {_num(noise, ".2f")}',
        vs_mm,
        _num(r.get('train_ratio_vs_bmn'), '.2f') +
        ('x' if 'train_ratio_vs_bmn' in r else ''),
        '\n'.join(r.get('targets', []))
    ]


def models_table(rows: List[dict], post: dict, batch: int) -> str:
    """The ``train`` and ``infer`` parts, one row per (setting, model),
    with the post-processing of its kind and the derived ratios."""
    table = [['setting', 'model', 'train s/step', 'peak GiB', 'infer b1 s',
              f'infer b{batch} s', '1 video s', 'post ms/video',
              'vs mmaction2\nspeed-up / mem', 'vs our BMN\nstep ratio',
              'targets']]
    table += [_model_row(r, post, batch) for r in rows]
    return AsciiTable(
        table, f' models, batch {batch} (post: smooth / noise maps, '
        'batch 1) ').table


def post_table(post: dict, batch: int) -> str:
    """The ``post`` part, per setting and kind of map."""
    table = [['setting', 'windows/video', 'maps', 'candidates/window',
              'ms/video b1', f'ms/video b{batch}', 'mmaction2 ms/video b1']]
    for setting, p in post.items():
        for kind in ('smooth', 'noise'):
            table.append([
                setting, p['windows_per_video'], kind,
                f'{p[kind + "_candidates_per_window"]:.0f}',
                _num(p.get(f'{kind}_b1_ms_per_video'), '.2f'),
                _num(p.get(f'{kind}_b{batch}_ms_per_video'), '.2f'),
                _num(p.get(f'mmaction2_{kind}_b1_ms_per_video'), '.2f')
            ])
    return AsciiTable(table,
                      ' candidate selection + Soft-NMS + top-k ').table


def car_align_table(ops: List[dict]) -> str:
    """The ``op`` part, one row per case."""
    table = [['setting', 'impl', 'dtype', 'B', 'T', 'D', 'fwd+bwd s',
              'extra MiB']]
    for o in ops:
        table.append([o['setting'], o['impl'], o['dtype'], o['batch'],
                      o['temporal_dim'], o['duration_dim'],
                      f'{o["fwd_bwd_s"]:.4f}',
                      f'{o["extra_bytes"] / 2**20:.0f}'])
    return AsciiTable(table, ' CARAlign vs dense mask + conv3d ').table


def evaluation_table(e: dict) -> str:
    """The ``eval`` part: our evaluator and mmaction2's."""
    table = [['evaluator', 'wall s', 'average mAP'],
             ['eval_detection.py (median)', f'{e["ours_wall_s"]:.2f}',
              _num(e.get('ours_average_mAP'), '.6f')]]
    if 'mmaction2_wall_s' in e:
        table.append([
            'mmaction2 ActivityNetLocalization',
            f'{e["mmaction2_wall_s"]:.2f} (import '
            f'{e["mmaction2_import_s"]:.2f}, evaluate '
            f'{e["mmaction2_evaluate_s"]:.2f})',
            f'{e["mmaction2_average_mAP"]:.6f}'])
    return AsciiTable(
        table, f' detection mAP of {e["predictions"]} predictions, '
        f'{e["videos"]} videos ').table


def demo_table(demo: List[dict]) -> str:
    """The ``demo`` part, one row per model."""
    table = [['model', 'videos', 'test loop s', 's/video', 'weights']]
    for d in demo:
        table.append([d['model'], d['videos'], f'{d["test_s"]:.2f}',
                      f'{d["s_per_video"]:.4f}',
                      d['checkpoint'] or 'seeded'])
    return AsciiTable(table, ' demo validation split ').table


def extraction_table(extraction: List[dict]) -> str:
    """The ``extract`` part, one row per (config, device)."""
    table = [['config', 'device', 'threads', 'batch', 'clip x crop',
              'feat dim', 'snippets', 'snippets/s']]
    for e in extraction:
        table.append([
            osp.basename(e['config']), e['device'], e['threads'],
            e['batch_size'],
            f'{e["clip_len"]} x {e["crop_size"]}^2', e['feat_dim'],
            e['num_snippets'], f'{e["snippets_per_second"]:.1f}'])
    return AsciiTable(
        table, ' feature extraction, random clips and weights ').table


def format_tables(rows: List[dict], post: dict, ops: List[dict],
                  evaluation: Optional[dict], demo: List[dict], batch: int,
                  paired: Optional[dict] = None,
                  extraction: Optional[List[dict]] = None) -> str:
    """The printed tables of the parts that ran, one string.

    Args:
        rows, post, ops, evaluation, demo, paired, extraction: The
            report's ``models``, ``post_processing``, ``car_align``,
            ``evaluation``, ``demo`` (without skipped entries), ``paired``
            and ``extraction``.
        batch (int): ``--batch``.
    """
    tables = []
    if paired:
        tables.append(paired_table(paired, batch))
    if rows:
        tables.append(models_table(rows, post, batch))
    if post:
        tables.append(post_table(post, batch))
    if ops:
        tables.append(car_align_table(ops))
    if evaluation and 'skipped' not in evaluation:
        tables.append(evaluation_table(evaluation))
    if demo:
        tables.append(demo_table(demo))
    if extraction:
        tables.append(extraction_table(extraction))
    return '\n'.join(tables)


def summary_lines(report: dict) -> List[str]:
    """The lines printed under the tables: output errors of our BMN,
    verdicts, the machine, failed workers."""
    lines = []
    for row in report['models']:
        if 'max_relative_error' in row:
            lines.append(
                f'{row["setting"]}: max relative error of our BMN vs '
                'mmaction2 (same weights): ' + ', '.join(
                    f'{k} {v:.2e}'
                    for k, v in row['max_relative_error'].items()))
    for v in report['targets']:
        lines.append(
            f'target {v["setting"]} {v["model"]} {v["target"]}: '
            f'{v["value"]:.4g} -> {"PASS" if v["passed"] else "FAIL"}')
    m, options = report['machine'], report['options']
    reused = options['reuse_freed_memory'] and \
        m['device'].startswith('cpu')
    lines.append(
        f'{m["device_name"]}, {m["cpus_usable"]} CPUs usable, torch '
        f'{m["torch"]}, {m["torch_threads"]} threads, amp '
        f'{options["amp"]}, ' + ('freed memory reused, ' if reused else '') +
        report['date'])
    for failure in report['failures']:
        lines.append(
            f'FAILED: {failure["worker"]} ({failure["setting"]}), exit '
            f'{failure["exit"]}; its rows are missing')
    return lines
