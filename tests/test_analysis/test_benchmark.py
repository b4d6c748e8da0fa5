# Copyright (c) rcl_mm contributors. All rights reserved.
"""The benchmark suite: a tiny run end to end, ratios, target verdicts,
the synthetic prediction file, the report's keys. No timing is asserted.

The measurements are :mod:`rcl_mm.analysis.benchmark`; ``cli`` is
tools/analysis/benchmark.py (its options and ``main``).
"""
import importlib.util
import json
import os.path as osp
import subprocess
import sys

import pytest

from rcl_mm.analysis import benchmark as bench
from rcl_mm.analysis.benchmark import suite

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def load_cli():
    spec = importlib.util.spec_from_file_location(
        'benchmark_cli', osp.join(ROOT, 'tools', 'analysis', 'benchmark.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cli = load_cli()

# Every key of a report, and of its entries, as the tiny runs below make
# them: a refactor that drops one fails here.
REPORT_KEYS = [
    'car_align', 'command', 'date', 'demo', 'evaluation', 'extraction',
    'failures', 'machine', 'models', 'options', 'paired', 'partial', 'post_processing',
    'settings', 'targets'
]
MACHINE_KEYS = ['cpu', 'cpu_count', 'cpus_usable', 'device', 'device_name',
                'platform', 'python', 'torch', 'torch_threads']
OPTION_KEYS = [
    'amp', 'batch', 'debug', 'demo_checkpoint', 'demo_videos', 'device',
    'duration_dim', 'eval_per_video', 'eval_repeats', 'eval_videos',
    'extract_snippets', 'feat_dim', 'gt', 'mmaction2_steps', 'mmaction2_thumos', 'models', 'out',
    'pair_rounds', 'parts', 'post_batches', 'reuse_freed_memory', 'settings',
    'soft_nms_impl', 'steps', 'temporal_dim', 'threads', 'tiny', 'warmup'
]
# A model row of the train and infer parts (batch 2), before the ratios.
MEASURED_ROW_KEYS = [
    'base_bytes', 'infer_batch1_s', 'infer_batch2_s', 'model',
    'num_parameters', 'peak_bytes', 'predict_autocast', 'predict_one_video_s',
    'setting', 'steps', 'train_extra_bytes', 'train_step_s'
]
# Our BMN beside mmaction2's: the ratios, the output errors, the targets.
BMN_ROW_KEYS = sorted(MEASURED_ROW_KEYS + [
    'equal_outputs', 'max_relative_error', 'peak_ratio_vs_mmaction2',
    'targets', 'train_speedup_vs_mmaction2'
])
POST_KEYS = [
    'maps', 'mmaction2_noise_b1_ms_per_video',
    'mmaction2_smooth_b1_ms_per_video', 'noise_b1_ms_per_video',
    'noise_b2_ms_per_video', 'noise_candidates_per_window', 'repeats',
    'setting', 'smooth_b1_ms_per_video', 'smooth_b2_ms_per_video',
    'smooth_candidates_per_window', 'windows_per_video'
]
TARGET_KEYS = ['bound', 'model', 'passed', 'setting', 'target', 'value']
SETTING_KEYS = ['duration_dim', 'feat_dim', 'soft_nms_alpha',
                'soft_nms_high_threshold', 'soft_nms_low_threshold',
                'temporal_dim', 'top_k']
PAIR_KEYS = ['base', 'base_median_s', 'model', 'model_median_s',
             'ratio_median', 'ratio_q25', 'ratio_q75', 'rounds']
CAR_ALIGN_KEYS = ['batch', 'bins', 'channels', 'dtype', 'duration_dim',
                  'extra_bytes', 'fwd_bwd_s', 'impl', 'num_segments', 'out',
                  'points', 'setting', 'temporal_dim']
EVAL_KEYS = [
    'file_bytes', 'mmaction2_average_mAP', 'mmaction2_evaluate_s',
    'mmaction2_import_s', 'mmaction2_wall_s', 'ours_average_mAP',
    'ours_runs', 'ours_wall_s', 'predictions', 'videos'
]

# A row of the extract part: measure_extraction_throughput's keys, the
# config's repository path and --threads.
EXTRACTION_KEYS = ['batch_size', 'clip_len', 'config', 'crop_size', 'device',
                   'feat_dim', 'num_snippets', 'seconds',
                   'snippets_per_second', 'threads', 'torch_threads']


def test_tiny_run_models_and_post(tmp_path, capsys):
    out = tmp_path / 'bench.json'
    report = cli.main([
        '--tiny', '--models', 'mmaction2,bmn', '--settings', 'anet',
        '--parts', 'train,infer,post', '--steps', '1', '--warmup', '0',
        '--threads', '1', '--post-batches', '2', '--out',
        str(out)
    ])
    saved = json.loads(out.read_text())
    assert sorted(saved) == REPORT_KEYS
    assert sorted(saved['machine']) == MACHINE_KEYS
    assert sorted(saved['options']) == OPTION_KEYS
    assert sorted(saved['settings']['anet']) == SETTING_KEYS
    assert [sorted(r) for r in saved['models']] == [
        MEASURED_ROW_KEYS, BMN_ROW_KEYS]
    assert sorted(saved['post_processing']['anet']) == POST_KEYS
    assert all(sorted(t) == TARGET_KEYS for t in saved['targets'])
    assert saved['command'] == report['command']
    assert saved['command'].startswith('tools/analysis/benchmark.py --tiny')
    for key in ('cpu', 'cpu_count', 'torch', 'device_name'):
        assert saved['machine'][key]
    assert saved['machine']['torch_threads'] == 1
    assert saved['date'][:2] == '20'
    assert saved['settings']['anet']['temporal_dim'] == 16
    assert saved['settings']['anet']['feat_dim'] == 32

    rows = {r['model']: r for r in saved['models']}
    assert set(rows) == {'mmaction2', 'bmn'}
    for row in rows.values():
        assert row['setting'] == 'anet' and row['steps'] == 1
        for key in ('train_step_s', 'infer_batch1_s', 'infer_batch2_s',
                    'predict_one_video_s'):
            assert row[key] > 0
        assert row['peak_bytes'] >= row['base_bytes'] > 0
    mm, us = rows['mmaction2'], rows['bmn']
    # Same seeded weights: same parameters and outputs.
    assert us['num_parameters'] == mm['num_parameters']
    assert us['equal_outputs'] is True
    assert max(us['max_relative_error'].values()) < 1e-5
    assert us['train_speedup_vs_mmaction2'] == pytest.approx(
        mm['train_step_s'] / us['train_step_s'])
    assert us['peak_ratio_vs_mmaction2'] == pytest.approx(
        us['peak_bytes'] / mm['peak_bytes'])

    post = saved['post_processing']['anet']
    for kind in ('smooth', 'noise'):
        for key in (f'{kind}_b1_ms_per_video', f'{kind}_b2_ms_per_video',
                    f'mmaction2_{kind}_b1_ms_per_video'):
            assert post[key] > 0
        assert post[f'{kind}_candidates_per_window'] >= 1
    assert post['windows_per_video'] == 1
    # The CPU targets at ANet: the two of our BMN and the post one.
    targets = {(t['model'], t['target']): t for t in saved['targets']}
    assert set(targets) == {
        ('bmn', 'step vs mmaction2 >= 10x'),
        ('bmn', 'peak memory <= 1/5 of mmaction2'),
        ('post-processing', 'post <= 20 ms/video')
    }
    memory = targets[('bmn', 'peak memory <= 1/5 of mmaction2')]
    assert memory['passed'] == (memory['value'] <= 0.2)

    assert saved['partial'] is False
    printed = capsys.readouterr().out
    # Each worker's numbers are printed as soon as it finishes.
    assert printed.index('result mmaction2 (anet): {') < printed.index(
        'running bmn (anet)')
    assert '| anet    | mmaction2 |' in printed
    assert '| anet    | bmn       |' in printed
    assert 'candidate selection + Soft-NMS' in printed
    assert 'max relative error of our BMN vs mmaction2' in printed


def test_partial_report_survives_a_stopped_run(tmp_path, monkeypatch):
    """A run stopped after some workers (a time limit, say) leaves their
    numbers in --out, marked partial."""
    out = tmp_path / 'bench.json'

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(suite, 'derive', stopped)
    with pytest.raises(KeyboardInterrupt):
        cli.main([
            '--tiny', '--models', 'bmn', '--settings', 'anet', '--parts',
            'train,post', '--steps', '1', '--warmup', '0', '--threads', '1',
            '--post-batches', '1', '--out',
            str(out)
        ])
    saved = json.loads(out.read_text())
    assert saved['partial'] is True
    assert [r['model'] for r in saved['models']] == ['bmn']
    assert saved['models'][0]['train_step_s'] > 0
    assert saved['post_processing']['anet']['noise_b1_ms_per_video'] > 0
    assert 'targets' not in saved


def test_tiny_car_align_cases():
    """The op part times CARAlign's two tap-sum paths and the dense mask
    it replaces; the bfloat16 matrix-product case runs on CUDA only."""
    report = cli.main([
        '--tiny', '--settings', 'anet', '--parts', 'op', '--steps', '1',
        '--warmup', '0', '--threads', '1'
    ])
    cases = [(o['impl'], o['dtype'], o['batch']) for o in report['car_align']]
    assert cases == [('car', 'float32', 2), ('car', 'bfloat16', 2),
                     ('car', 'float32', 1), ('car_dense', 'float32', 2),
                     ('dense', 'float32', 1)]
    for case in report['car_align']:
        assert case['fwd_bwd_s'] > 0 and case['num_segments'] == 136
        assert sorted(case) == CAR_ALIGN_KEYS


def test_tiny_eval_against_mmaction2(tmp_path):
    # Scores of 6 random decimals over 24 predictions: no ties, so the
    # official ranking and mmaction2's agree exactly.
    database = {
        'a1': dict(subset='validation', duration=50.0, annotations=[
            dict(segment=[5.0, 20.0], label='Run'),
            dict(segment=[30.0, 40.0], label='Jump')]),
        'a2': dict(subset='validation', duration=80.0, annotations=[
            dict(segment=[10.0, 60.0], label='Run')]),
        'a3': dict(subset='validation', duration=30.0, annotations=[
            dict(segment=[0.0, 12.0], label='Jump')]),
        't1': dict(subset='training', duration=10.0, annotations=[
            dict(segment=[1.0, 2.0], label='Swim')]),
    }
    gt = tmp_path / 'gt.json'
    gt.write_text(json.dumps(dict(version='VERSION 1.3', database=database)))
    report = cli.main([
        '--parts', 'eval', '--models', 'mmaction2', '--gt',
        str(gt), '--eval-per-video', '8', '--eval-repeats', '1'
    ])
    ev = report['evaluation']
    assert sorted(ev) == EVAL_KEYS
    assert ev['videos'] == 3 and ev['predictions'] == 24
    assert ev['ours_wall_s'] > 0 and ev['mmaction2_evaluate_s'] > 0
    assert 0 < ev['ours_average_mAP'] <= 1
    assert ev['ours_average_mAP'] == pytest.approx(
        ev['mmaction2_average_mAP'], abs=1e-12)


def test_thumos_post_merges_windows():
    args = cli.parse_args([
        '--tiny', '--post-batches', '1', '--steps', '1', '--models', 'bmn'
    ])
    result = bench.measure_post(args, 'thumos')
    assert result['windows_per_video'] == 3
    for key in ('smooth_b1_ms_per_video', 'noise_b2_ms_per_video'):
        assert result[key] > 0
    assert 'mmaction2_smooth_b1_ms_per_video' not in result

    import torch

    from rcl_mm.testing import noise_maps
    params = bench.setting_params(args, 'thumos')
    gen = torch.Generator().manual_seed(0)
    maps = noise_maps(2 * 3, 24, 8, gen)  # 2 videos x 3 windows
    params.update(top_k=5, window_top_k=4)
    videos = bench.windowed_post_process(maps, 3, params)
    assert len(videos) == 2
    # Windows at snippets 0, 12, 24 of 24 snippets of 1/6 s: the video
    # spans 48 snippets, 8 s.
    for dets in videos:
        assert dets.shape == (5, 3)
        assert (dets[:, 0] >= 0).all() and (dets[:, 1] <= 8.0).all()
        assert (dets[:, 0] < dets[:, 1]).all()
        assert (dets[:-1, 2] >= dets[1:, 2]).all()


def test_synthetic_predictions_hand_case():
    database = {
        'v1': dict(subset='validation', duration=100.0, annotations=[
            dict(segment=[10.0, 30.0], label='A')]),
        'v2': dict(subset='training', duration=60.0, annotations=[
            dict(segment=[1.0, 2.0], label='Z')]),
        'v3': dict(subset='validation', duration=40.0, annotations=[
            dict(segment=[5.0, 15.0], label='B')]),
    }
    preds = bench.synthetic_predictions(database, None, 50, seed=3)
    assert list(preds) == ['v1', 'v3']  # validation only, file order
    for vid, dets in preds.items():
        assert len(dets) == 50
        for det in dets:
            assert det['label'] in ('A', 'B')  # never a training label
            start, end = det['segment']
            # Valid for the readers, which refuse reversed segments.
            assert 0.0 <= start <= end <= database[vid]['duration']
            assert 0.0 <= det['score'] < 1.0
    # Short instances in a short video: jitter crosses the ends often.
    crowded = {'v': dict(subset='validation', duration=3.0, annotations=[
        dict(segment=[0.0, 0.2], label='A'),
        dict(segment=[2.9, 3.0], label='A')])}
    for det in bench.synthetic_predictions(crowded, None, 500)['v']:
        start, end = det['segment']
        assert 0.0 <= start <= end <= 3.0
    assert preds == bench.synthetic_predictions(database, None, 50, seed=3)
    assert preds != bench.synthetic_predictions(database, None, 50, seed=4)
    assert list(bench.synthetic_predictions(database, 1, 2)) == ['v1']
    layout = bench.mmaction2_layout(database, preds)
    assert layout == {
        'v_v1': dict(duration_second=100.0,
                     annotations=database['v1']['annotations']),
        'v_v3': dict(duration_second=40.0,
                     annotations=database['v3']['annotations'])
    }


def test_derive_ratios_and_verdicts():
    rows = [
        dict(setting='anet', model='mmaction2', train_step_s=12.0,
             peak_bytes=8.0),
        dict(setting='anet', model='bmn', train_step_s=1.5, peak_bytes=1.0,
             equal_outputs=True),
        dict(setting='anet', model='rcl_bmn_light', train_step_s=2.1,
             peak_bytes=1.5),
    ]
    post = dict(anet=dict(smooth_b1_ms_per_video=4.0,
                          noise_b1_ms_per_video=25.0,
                          smooth_b8_ms_per_video=1.0,
                          mmaction2_noise_b1_ms_per_video=90.0))
    verdicts = bench.derive(rows, post, 'cpu')
    assert rows[1]['train_speedup_vs_mmaction2'] == 8.0
    assert rows[1]['peak_ratio_vs_mmaction2'] == 0.125
    assert rows[2]['train_ratio_vs_bmn'] == pytest.approx(1.4)
    assert [(v['model'], v['target'], v['passed']) for v in verdicts] == [
        ('bmn', 'step vs mmaction2 >= 10x', False),
        ('bmn', 'peak memory <= 1/5 of mmaction2', True),
        ('rcl_bmn_light', 'step <= 1.3x our BMN', False),
        # The worst batch-1 case of ours (noise), not mmaction2's.
        ('post-processing', 'post <= 20 ms/video', False),
    ]
    assert verdicts[3]['value'] == 25.0
    assert rows[1]['targets'] == [
        'step vs mmaction2 >= 10x: FAIL',
        'peak memory <= 1/5 of mmaction2: PASS'
    ]

    # The speed target holds only at equal outputs.
    rows = [dict(setting='anet', model='mmaction2', train_step_s=12.0),
            dict(setting='anet', model='bmn', train_step_s=1.0)]
    verdicts = bench.derive(rows, {}, 'cpu')
    assert [(v['value'], v['passed']) for v in verdicts] == [(12.0, False)]

    # On CUDA only the CUDA targets apply: 4 ms passes, 8 ms fails.
    rows = [dict(setting='anet', model='bmn', train_step_s=0.004,
                 predict_one_video_s=0.002),
            dict(setting='anet', model='rcl_bmn', train_step_s=0.008)]
    verdicts = bench.derive(rows, post, 'cuda')
    assert [(v['model'], v['target'], v['passed']) for v in verdicts] == [
        ('bmn', 'step <= 5 ms', True),
        ('rcl_bmn', 'step <= 7 ms', False),
        ('bmn', '1 video incl. post <= 3 ms', True),
    ]


def test_paired_ratio_judges_the_rcl_target():
    """Where the pair part ran, the RCL step target uses its median
    ratio (here passing although the separate runs' ratio fails), and it
    applies even without the model's row."""
    rows = [dict(setting='anet', model='bmn', train_step_s=1.5),
            dict(setting='anet', model='rcl_bmn_light', train_step_s=2.1)]
    paired = dict(anet=[dict(base='bmn', model='rcl_bmn_light', rounds=9,
                             base_median_s=1.5, model_median_s=1.8,
                             ratio_median=1.2, ratio_q25=1.15,
                             ratio_q75=1.25)],
                  thumos=[dict(base='bmn', model='rcl_bmn_light', rounds=9,
                               base_median_s=3.0, model_median_s=4.2,
                               ratio_median=1.4, ratio_q25=1.35,
                               ratio_q75=1.45)])
    verdicts = bench.derive(rows, {}, 'cpu', paired)
    assert rows[1]['train_ratio_vs_bmn'] == pytest.approx(1.4)
    assert [(v['setting'], v['target'], v['value'], v['passed'])
            for v in verdicts] == [
        ('anet', 'step <= 1.3x our BMN (paired)', 1.2, True),
        ('thumos', 'step <= 1.3x our BMN (paired)', 1.4, False)]
    table = bench.format_tables(rows, {}, [], None, [], 8, paired)
    assert '1.200 [1.150, 1.250]' in table


def test_tiny_pair_part(tmp_path, capsys):
    out = tmp_path / 'pair.json'
    report = cli.main([
        '--tiny', '--models', 'bmn,rcl_bmn_light', '--settings', 'anet',
        '--parts', 'pair', '--pair-rounds', '3', '--warmup', '1',
        '--threads', '1', '--reuse-freed-memory', '--out', str(out)])
    saved = json.loads(out.read_text())
    assert saved['options']['reuse_freed_memory'] is True
    (pair, ) = saved['paired']['anet']
    assert sorted(pair) == PAIR_KEYS
    assert (pair['base'], pair['model'], pair['rounds']) == (
        'bmn', 'rcl_bmn_light', 3)
    assert pair['ratio_q25'] <= pair['ratio_median'] <= pair['ratio_q75']
    assert pair['base_median_s'] > 0 and pair['model_median_s'] > 0
    assert [t['target'] for t in report['targets']] == [
        'step <= 1.3x our BMN (paired)']
    printed = capsys.readouterr().out
    assert 'paired training steps' in printed
    assert 'freed memory reused' in printed


def test_tiny_rcl_bmn_with_each_rrm(tmp_path):
    """Both RRM blocks of RCL-BMN against our BMN in one run: their train
    rows and their paired ratios; the 1.3x target is the light block's."""
    out = tmp_path / 'rrm.json'
    report = cli.main([
        '--tiny', '--models', 'bmn,rcl_bmn,rcl_bmn_light', '--settings',
        'anet', '--parts', 'train,pair', '--pair-rounds', '3', '--steps',
        '1', '--warmup', '1', '--threads', '1', '--out', str(out)])
    saved = json.loads(out.read_text())
    rows = {r['model']: r for r in saved['models']}
    assert set(rows) == {'bmn', 'rcl_bmn', 'rcl_bmn_light'}
    # The supplement's block has more parameters than the light one.
    assert rows['rcl_bmn']['num_parameters'] > \
        rows['rcl_bmn_light']['num_parameters']
    for name in ('rcl_bmn', 'rcl_bmn_light'):
        assert rows[name]['train_ratio_vs_bmn'] == pytest.approx(
            rows[name]['train_step_s'] / rows['bmn']['train_step_s'])
    pairs = saved['paired']['anet']
    assert [(p['base'], p['model']) for p in pairs] == [
        ('bmn', 'rcl_bmn'), ('bmn', 'rcl_bmn_light')]
    assert all(p['ratio_median'] > 0 for p in pairs)
    assert [(t['model'], t['target']) for t in report['targets']] == [
        ('rcl_bmn_light', 'step <= 1.3x our BMN (paired)')]
    params = bench.setting_params(cli.parse_args(['--tiny']), 'anet')
    assert bench.build_model('rcl_bmn', params).neck.block_type == \
        'raft_small'
    assert bench.build_model('rcl_bmn_light', params).neck.block_type \
        == 'light'


def test_tiny_extract_part(tmp_path, capsys):
    """The extract part on the CPU: the tiny extractor only, its row
    under ``extraction``, snippets/s = snippets / seconds."""
    out = tmp_path / 'extract.json'
    report = cli.main(['--tiny', '--parts', 'extract', '--threads', '1',
                       '--out', str(out)])
    saved = json.loads(out.read_text())
    assert sorted(saved) == REPORT_KEYS
    assert saved['options']['extract_snippets'] == 8
    (row, ) = saved['extraction']
    assert sorted(row) == EXTRACTION_KEYS
    assert row['config'] == bench.EXTRACT_CONFIGS['cpu'][0] == \
        'configs/feature_extraction/tiny_r18_1stage_test.py'
    # The tiny config: batches of 8 clips of 2 frames, 32 x 32 crops,
    # ResNet-18's first stage (64-d); --tiny asks for 8 snippets: one
    # batch.
    assert (row['batch_size'], row['clip_len'], row['crop_size'],
            row['feat_dim'], row['num_snippets']) == (8, 2, 32, 64, 8)
    assert (row['device'], row['threads'], row['torch_threads']) == (
        'cpu', 1, 1)
    assert row['snippets_per_second'] == pytest.approx(
        row['num_snippets'] / row['seconds'])
    assert report['extraction'] == saved['extraction']
    assert saved['models'] == [] and saved['failures'] == []
    printed = capsys.readouterr().out
    assert 'feature extraction, random clips and weights' in printed
    assert '| tiny_r18_1stage_test.py | cpu    | 1       |' in printed


def test_extract_configs_and_table():
    """CUDA adds TSN ResNet-50 to the tiny extractor; the configs exist;
    the table shows a hand-made row."""
    assert bench.EXTRACT_CONFIGS['cuda'] == (
        'configs/feature_extraction/tiny_r18_1stage_test.py',
        'configs/feature_extraction/tsn_r50_rgb.py')
    for configs in bench.EXTRACT_CONFIGS.values():
        assert all(osp.isfile(osp.join(ROOT, c)) for c in configs)
    assert 'extract' in bench.PARTS
    row = dict(config='configs/feature_extraction/tsn_r50_rgb.py',
               device='cuda', threads=16, batch_size=32, clip_len=1,
               crop_size=224, feat_dim=2048, num_snippets=256,
               seconds=0.5, snippets_per_second=512.0, torch_threads=16)
    table = bench.format_tables([], {}, [], None, [], 8, None, [row])
    assert ('| tsn_r50_rgb.py | cuda   | 16      | 32    | 1 x 224^2   '
            '| 2048     | 256      | 512.0      |') in table
    # Nothing measured: no table.
    assert bench.format_tables([], {}, [], None, [], 8, None, []) == ''


def test_tiny_and_overrides():
    args = cli.parse_args(['--tiny', '--temporal-dim', '20'])
    assert args.batch == 2
    assert bench.setting_params(args, 'anet')['temporal_dim'] == 20
    assert bench.setting_params(args, 'thumos')['duration_dim'] == 8
    full = cli.parse_args([])
    assert bench.setting_params(full, 'thumos') == dict(
        temporal_dim=256, duration_dim=64, feat_dim=2048,
        soft_nms_alpha=0.3, soft_nms_low_threshold=0.0,
        soft_nms_high_threshold=0.0, top_k=200, window_top_k=100,
        window_stride=128, snippet_seconds=5 / 30, windows_per_video=9)


def test_bad_arguments_name_the_choices(capsys):
    with pytest.raises(SystemExit):
        cli.parse_args(['--parts', 'train,speed'])
    assert "--parts: unknown ['speed']" in capsys.readouterr().err
    args = cli.parse_args(['--duration-dim', '300'])
    with pytest.raises(SystemExit, match='D = 300 > T = 100'):
        bench.setting_params(args, 'anet')


DEMO_VAL = osp.join(ROOT, 'data', 'demo', 'features', 'anet_anno_val.json')


@pytest.mark.skipif(
    not osp.isfile(DEMO_VAL),
    reason='no demo data; python tools/data/synthesize.py writes it')
def test_tiny_demo_test_loop():
    report = cli.main([
        '--parts', 'demo', '--models', 'bmn', '--demo-videos', '2'
    ])
    (demo, ) = report['demo']
    assert demo['model'] == 'bmn' and demo['videos'] == 2
    assert demo['checkpoint'] is None
    assert demo['s_per_video'] == pytest.approx(demo['test_s'] / 2)
    assert 0 <= demo['metrics']['activitynet/AUC'] <= 100


def test_demo_missing_says_how_to_make_it(tmp_path):
    message = bench.demo_missing(
        str(tmp_path), osp.join(ROOT, bench.DEMO_CONFIGS['bmn']))
    assert 'data/demo/features/anet_anno_val.json is missing' in message
    assert 'tools/data/synthesize.py' in message


def test_tiny_soft_nms_triton_runs_in_the_parts():
    """--soft-nms-impl triton reaches the models' test_cfg and the post
    part (interpreted on the CPU: workers inherit TRITON_INTERPRET)."""
    pytest.importorskip('triton')
    from rcl_mm.ops.triton_utils import interpreted
    if not interpreted():
        pytest.skip('CUDA machine: the CUDA benchmark covers it')
    report = cli.main([
        '--tiny', '--models', 'bmn', '--settings', 'anet,thumos',
        '--parts', 'infer,post', '--soft-nms-impl', 'triton', '--steps',
        '1', '--warmup', '0', '--post-batches', '1', '--threads', '1'])
    assert report['failures'] == []
    assert report['options']['soft_nms_impl'] == 'triton'
    for setting in ('anet', 'thumos'):
        assert report['post_processing'][setting]['noise_b1_ms_per_video'] > 0
    assert all(r['predict_one_video_s'] > 0 for r in report['models'])
    model = bench.build_model('rcl_bmn', bench.setting_params(
        cli.parse_args(['--tiny']), 'anet'), 'triton')
    assert model.test_cfg['soft_nms_impl'] == 'triton'


def test_rcl_mm_does_not_import_the_benchmark():
    """``import rcl_mm`` leaves rcl_mm.analysis alone, and importing
    rcl_mm.analysis loads none of its libraries."""
    listed = ("print(sorted(m for m in sys.modules "
              "if m.startswith('rcl_mm.analysis')))")
    code = f'import sys, rcl_mm; {listed}; import rcl_mm.analysis; {listed}'
    proc = subprocess.run([sys.executable, '-c', code], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split('\n')[:2] == ['[]', "['rcl_mm.analysis']"]
