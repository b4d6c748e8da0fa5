# Copyright (c) rcl_mm contributors. All rights reserved.
"""update_metafiles.py: the metafiles' demo Results from ablation runs."""
import json
import os.path as osp
import shutil
import sys

import pytest
import yaml

from analysis_tools import load_tool

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ANET_DEMO = 'Synthetic demo (ActivityNet annotations)'
TASK = 'Temporal Action Localization'


def copy_index(tmp_path):
    """model-index.yml and the metafiles, as a repository root."""
    root = tmp_path / 'repo'
    (root / 'configs').mkdir(parents=True)
    shutil.copy(osp.join(ROOT, 'model-index.yml'), root)
    shutil.copytree(osp.join(ROOT, 'configs', 'metafiles'),
                    root / 'configs' / 'metafiles')
    return root


def write_result(ablation_dir, variant, seed, avg, at50, at75, at95):
    run_dir = ablation_dir / variant / f'seed{seed}'
    run_dir.mkdir(parents=True)
    result = {'average_mAP': avg, 'mAP@0.50': at50, 'mAP@0.55': 99.0,
              'mAP@0.75': at75, 'mAP@0.95': at95, 'seconds': 60.0}
    (run_dir / 'result.json').write_text(json.dumps(result))


def fake_ablation(tmp_path):
    ablation_dir = tmp_path / 'ablation'
    # bmn: seeds 0-2, and seed 3 which --seeds 0 1 2 does not ask for.
    for seed, values in enumerate([(10.0, 20.0, 1.0, 0.1),
                                   (12.0, 22.0, 2.0, 0.2),
                                   (14.0, 27.0, 4.5, 0.3),
                                   (90.0, 90.0, 90.0, 90.0)]):
        write_result(ablation_dir, 'bmn', seed, *values)
    # rcl_supp: seeds 0 and 2 finished, seed 1 still training.
    write_result(ablation_dir, 'rcl_supp', 0, 30.0, 40.0, 20.0, 5.0)
    write_result(ablation_dir, 'rcl_supp', 2, 31.5, 41.0, 21.0, 6.0)
    (ablation_dir / 'rcl_supp' / 'seed1').mkdir()
    # A test-only variant of rcl_bmn_demo's checkpoints: not the config's
    # own result.
    write_result(ablation_dir, 'rcl_supp_bmn_scoring', 0, 50.0, 50.0, 50.0,
                 50.0)
    # rcl_gtad_supp started, nothing finished; gtad never ran.
    (ablation_dir / 'rcl_gtad_supp' / 'seed0').mkdir(parents=True)
    return ablation_dir


def load_models(root):
    models = {}
    index = yaml.safe_load((root / 'model-index.yml').read_text())
    for metafile in index['Import']:
        meta = yaml.safe_load((root / metafile).read_text())
        for model in meta['Models']:
            models[model['Name']] = model
    return models


def test_demo_variants_are_the_unchanged_configs():
    tool = load_tool('update_metafiles')
    variants = tool.config_variants(tool.load_ablation().VARIANTS)
    assert variants == {
        'configs/demo/bmn_demo.py': 'bmn',
        'configs/demo/rcl_bmn_demo.py': 'rcl_supp',
        'configs/demo/gtad_demo.py': 'gtad',
        'configs/demo/rcl_gtad_demo.py': 'rcl_gtad_supp',
    }
    with pytest.raises(ValueError, match='a and b both run x.py'):
        tool.config_variants({'a': ('x.py', {}, None, {}),
                              'b': ('x.py', {}, None, {})})


def test_means_of_the_finished_seeds(tmp_path):
    tool = load_tool('update_metafiles')
    root = copy_index(tmp_path)
    before = load_models(root)
    texts = {p.name: p.read_text()
             for p in (root / 'configs' / 'metafiles').iterdir()}
    differ, report = tool.update_metafiles(str(root),
                                           str(fake_ablation(tmp_path)),
                                           [0, 1, 2])
    # (gtad.yml and rcl_gtad.yml differ unless they hold no demo Results.)
    assert differ[:2] == ['configs/metafiles/bmn.yml',
                          'configs/metafiles/rcl_bmn.yml']
    assert 'configs/metafiles/rcl_bmn.yml rcl_bmn_demo: rcl_supp, ' \
        'seeds 0, 2' in report
    after = load_models(root)
    # Hand-computed means: (10 + 12 + 14) / 3, (20 + 22 + 27) / 3, ...
    assert after['bmn_demo']['Results'] == [dict(
        Dataset=ANET_DEMO, Task=TASK, Metrics={
            'class-agnostic average mAP': 12.0,
            'class-agnostic mAP@0.5': 23.0,
            'class-agnostic mAP@0.75': 2.5,
            'class-agnostic mAP@0.95': 0.2,
            'seeds': 3})]
    assert after['rcl_bmn_demo']['Results'] == [dict(
        Dataset=ANET_DEMO, Task=TASK, Metrics={
            'class-agnostic average mAP': 30.75,
            'class-agnostic mAP@0.5': 40.5,
            'class-agnostic mAP@0.75': 20.5,
            'class-agnostic mAP@0.95': 5.5,
            'seeds': 2})]
    # No finished run, no variant (the THUMOS demos): the old numbers go.
    for name in ('gtad_demo', 'rcl_gtad_demo', 'bmn_thumos_demo',
                 'rcl_bmn_thumos_demo', 'gtad_thumos_demo',
                 'rcl_gtad_thumos_demo'):
        assert after[name]['Results'] == [], name
    # Everything else as it was.
    assert sorted(after) == sorted(before)
    for name, model in before.items():
        if not model['Config'].startswith('configs/demo/'):
            assert after[name] == model, name
        else:
            assert {k: v for k, v in after[name].items() if k != 'Results'
                    } == {k: v for k, v in model.items() if k != 'Results'}
    bmn_text = (root / 'configs' / 'metafiles' / 'bmn.yml').read_text()
    assert ('    # validation set, mean of seeds 0, 1, 2.\n'
            '    Results:\n'
            '      - Dataset: Synthetic demo (ActivityNet annotations)\n'
            '        Task: Temporal Action Localization\n'
            '        Metrics:\n'
            '          class-agnostic average mAP: 12.00\n'
            '          class-agnostic mAP@0.5: 23.00\n'
            '          class-agnostic mAP@0.75: 2.50\n'
            '          class-agnostic mAP@0.95: 0.20\n'
            '          seeds: 3\n'
            '\n'
            '  - Name: bmn_thumos_demo\n') in bmn_text
    # The lines outside the demo models are kept, comments included.
    old_lines = texts['bmn.yml'].split('\n')
    new_lines = bmn_text.split('\n')
    old_blocks = tool.model_blocks(old_lines, 'bmn.yml')
    new_blocks = tool.model_blocks(new_lines, 'bmn.yml')
    assert old_lines[:old_blocks['bmn_demo'][0]] == \
        new_lines[:new_blocks['bmn_demo'][0]]
    assert old_lines[old_blocks['bmn_thumos_demo'][1]:] == \
        new_lines[new_blocks['bmn_thumos_demo'][1]:]
    # A second run has nothing to change.
    assert tool.update_metafiles(str(root), str(tmp_path / 'ablation'),
                                 [0, 1, 2]) == (
                                     [], report)


def test_check_writes_nothing_and_fails_when_stale(tmp_path, monkeypatch,
                                                   capsys):
    tool = load_tool('update_metafiles')
    root = copy_index(tmp_path)
    monkeypatch.setattr(tool, 'ROOT', str(root))
    ablation_dir = str(fake_ablation(tmp_path))
    # The fake runs' numbers are no real run's: the files differ.
    metafile = root / 'configs' / 'metafiles' / 'bmn.yml'
    stale = metafile.read_text()

    def run(*args):
        monkeypatch.setattr(sys, 'argv', ['update_metafiles.py',
                                          '--ablation-dir', ablation_dir,
                                          *args])
        return tool.run_tool(tool.main)

    assert run('--check') == 1
    assert 'differ from the ablation' in capsys.readouterr().out
    assert metafile.read_text() == stale
    assert run() == 0
    assert load_models(root)['bmn_demo']['Results'][0]['Metrics'][
        'seeds'] == 3
    assert run('--check') == 0
    assert 'up to date' in capsys.readouterr().out


def test_bad_results_are_named(tmp_path, monkeypatch, capsys):
    tool = load_tool('update_metafiles')
    root = copy_index(tmp_path)
    monkeypatch.setattr(tool, 'ROOT', str(root))
    ablation_dir = tmp_path / 'ablation'
    write_result(ablation_dir, 'bmn', 0, 10.0, 20.0, 1.0, 0.1)
    bad = ablation_dir / 'bmn' / 'seed1' / 'result.json'
    bad.parent.mkdir()

    def run(folder):
        monkeypatch.setattr(sys, 'argv', ['update_metafiles.py',
                                          '--ablation-dir', str(folder)])
        return tool.run_tool(tool.main)

    before = {p: p.read_text()
              for p in (root / 'configs' / 'metafiles').iterdir()}
    bad.write_text('{"average_mAP": 1')
    assert run(ablation_dir) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('error: not a JSON file') and str(bad) in err
    assert len(err.splitlines()) == 1
    bad.write_text(json.dumps({'average_mAP': 1.0, 'mAP@0.50': 1.0,
                               'mAP@0.75': 1.0, 'seconds': 1.0}))
    assert run(ablation_dir) == 2
    err = capsys.readouterr().err.strip()
    assert "no number under 'mAP@0.95'" in err and str(bad) in err
    assert '--variants bmn --seeds 1' in err
    # A mistyped folder is refused rather than taken for "no results".
    assert run(tmp_path / 'no_such_dir') == 2
    assert 'no_such_dir' in capsys.readouterr().err
    # Nothing was written by the failed runs.
    assert {p: p.read_text() for p in before} == before


def test_metafiles_agree_with_the_committed_ablation_results():
    """The demo Results of the shipped metafiles are what the script
    writes from the result files kept in docs/ablation/results."""
    tool = load_tool('update_metafiles')
    differ, report = tool.update_metafiles(
        ROOT, osp.join(ROOT, 'docs', 'ablation', 'results'), [0, 1, 2],
        write=False)
    assert differ == [], report
