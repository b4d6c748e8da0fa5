# Copyright (c) rcl_mm contributors. All rights reserved.
"""Every tool on bad input: one line ``error: ...`` naming the file, video
or key, exit status 2, no traceback (docs/reliability.md lists the same
matrix with each message).

The tools run in their own processes: ``eval_detection.py`` as
``python tools/analysis/eval_detection.py`` (it must not need torch), the
others forked from one interpreter that has imported the stack
(``tool_server.py``: seconds instead of minutes for the whole matrix);
``test_real_process_matches_the_forked_one`` runs one case both ways.
"""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from bad_input_fixtures import build_bad_input_case, write_results

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SERVER = osp.join(osp.dirname(osp.abspath(__file__)), 'tool_server.py')
EVAL = 'tools/analysis/eval_detection.py'


@pytest.fixture(scope='module')
def case(tmp_path_factory):
    """The tiny config, data and checkpoints, plus the bad files."""
    root = str(tmp_path_factory.mktemp('bad_input'))
    c = build_bad_input_case(root)
    seg, label, video = c['segment'], c['label'], c['video']

    def det(segment=seg, score=0.5, lab=label):
        return dict(segment=list(segment), score=score, label=lab)

    good = [det(), det([0.0, 5.0], 0.25)]
    c['results'] = {
        'nan_score': [*good, det(score=float('nan'))],
        'nan_start': [*good, det([float('nan'), seg[1]])],
        'reversed': [*good, det([seg[1], seg[0]])],
        'score_range': [*good, det(score=1.5)],
        'unknown_label': [*good, det(lab='Not a class')],
    }
    for name, dets in c['results'].items():
        write_results(osp.join(root, f'{name}.json'), video, dets)
    write_results(osp.join(root, 'good.json'), video, good)
    with open(osp.join(root, 'truncated.json'), 'w') as f:
        f.write('{"results": {"%s": [{"segment": [1.0, 2' % video)
    # A folder with one empty csv (0 bytes), and that file alone.
    os.makedirs(osp.join(root, 'empty'))
    open(osp.join(root, 'empty', 'v_empty.csv'), 'w').close()
    with open(osp.join(root, 'typo_hook.py'), 'w') as f:
        f.write(f'_base_ = [{c["config"]!r}]\n'
                'default_hooks = dict(checkpoint=dict(intervl=2))\n')
    return c


@pytest.fixture(scope='module')
def server():
    proc = subprocess.Popen([sys.executable, SERVER], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == 'ready'
    yield proc
    proc.stdin.close()
    proc.wait(timeout=60)


def run_forked(server, argv, tmp_path, env=None, cwd=ROOT):
    out, err = str(tmp_path / 'stdout'), str(tmp_path / 'stderr')
    argv = [osp.join(ROOT, argv[0])] + argv[1:]
    server.stdin.write(json.dumps(dict(argv=argv, cwd=cwd, env=env or {},
                                       out=out, err=err)) + '\n')
    server.stdin.flush()
    status = int(server.stdout.readline())
    return status, open(out).read(), open(err).read()


def run_process(argv, env=None):
    proc = subprocess.run([sys.executable] + argv, cwd=ROOT,
                          capture_output=True, text=True,
                          env=dict(os.environ, **(env or {})))
    return proc.returncode, proc.stdout, proc.stderr


def run_tool(server, argv, tmp_path, env=None):
    if argv[0] == EVAL:
        return run_process(argv, env)
    return run_forked(server, argv, tmp_path, env)


INFER = 'tools/inference.py'
# (id, argv with {placeholders} of the case, the names the message must
# hold). Exit status 2 for all.
MATRIX = [
    # eval_detection: predictions validated, ground truth first.
    ('eval-nan-score', [EVAL, '{gt}', '{root}/nan_score.json'],
     ['nan_score.json', "video '{video}'", 'detection 2', 'finite']),
    ('eval-nan-start', [EVAL, '{gt}', '{root}/nan_start.json'],
     ['nan_start.json', "video '{video}'", 'detection 2', 'finite']),
    ('eval-reversed', [EVAL, '{gt}', '{root}/reversed.json'],
     ['reversed.json', "video '{video}'", 'detection 2', 'start > end']),
    ('eval-score-range', [EVAL, '{gt}', '{root}/score_range.json'],
     ['score_range.json', "video '{video}'", 'detection 2', '[0, 1]']),
    ('eval-unknown-label', [EVAL, '{gt}', '{root}/unknown_label.json'],
     ['unknown_label.json', "video '{video}'", 'detection 2',
      "'Not a class'", '--proposals']),
    ('eval-missing-gt-first', [EVAL, '{root}/no_gt.json',
                               '{root}/nan_score.json'],
     ['no_gt.json', 'not found']),
    ('eval-missing-results', [EVAL, '{gt}', '{root}/no_results.json'],
     ['no_results.json', 'not found']),
    ('eval-truncated-results', [EVAL, '{gt}', '{root}/truncated.json'],
     ['truncated.json', 'not valid JSON', 'truncated']),
    # inference
    ('inference-cfg-typo-top-level',
     [INFER, '{features}', '--config', '{config}', '--checkpoint',
      '{checkpoint}', '--cfg-options', 'modle.test_cfg.top_k=5'],
     ['--cfg-options modle.test_cfg.top_k', "'model'"]),
    ('inference-cfg-typo-dataloader',
     [INFER, '{features}', '--config', '{config}', '--checkpoint',
      '{checkpoint}', '--cfg-options', 'test_dataloder.batch_size=2'],
     ['--cfg-options test_dataloder.batch_size', "'test_dataloader'"]),
    ('inference-cfg-typo-test-cfg',
     [INFER, '{features}', '--config', '{config}', '--checkpoint',
      '{checkpoint}', '--cfg-options', 'model.test_cfg.topk=5'],
     ['--cfg-options', "'topk'", "'top_k'"]),
    ('inference-cfg-options-first',
     [INFER, '--config', '{config}', '--checkpoint', '{checkpoint}',
      '--cfg-options', 'model.test_cfg.top_k=5', '{features}'],
     ['--cfg-options', '{features}', 'after the positional']),
    ('inference-truncated-checkpoint',
     [INFER, '{features}', '--config', '{config}', '--checkpoint',
      '{truncated}'], ['truncated.pth', 'truncated']),
    ('inference-missing-features',
     [INFER, '{root}/no_features', '--config', '{config}', '--checkpoint',
      '{checkpoint}'], ['no_features']),
    ('inference-empty-csv',
     [INFER, '{root}/empty/v_empty.csv', '--config', '{config}',
      '--checkpoint', '{checkpoint}', '--out-dir', '{root}/out_empty'],
     ['v_empty.csv', 'video v_empty', 'no snippet']),
    ('inference-duration-on-folder',
     [INFER, '{features}', '--config', '{config}', '--checkpoint',
      '{checkpoint}', '--duration', '10'], ['--duration', '{features}']),
    ('inference-missing-config',
     [INFER, '{features}', '--config', '{root}/no_config.py',
      '--checkpoint', '{checkpoint}'], ['no_config.py', 'not found']),
    # test / train
    ('test-truncated-checkpoint',
     ['tools/test.py', '{config}', '{truncated}'], ['truncated.pth']),
    ('test-cfg-typo',
     ['tools/test.py', '{config}', '{checkpoint}', '--cfg-options',
      'test_dataloader.batchsize=2'],
     ['--cfg-options test_dataloader.batchsize',
      "'test_dataloader.batch_size'"]),
    ('train-cfg-typo-named-as-option',
     ['tools/train.py', '{config}', '--cfg-options',
      'optim_wrapper.optimizer.lrr=0.1'],
     ['--cfg-options optim_wrapper.optimizer.lrr',
      "'optim_wrapper.optimizer.lr'"]),
    ('train-hook-typo-option',
     ['tools/train.py', '{config}', '--cfg-options',
      'default_hooks.checkpoint.intervl=1'],
     ['--cfg-options default_hooks.checkpoint.intervl', 'interval']),
    ('train-hook-typo-in-file', ['tools/train.py', '{root}/typo_hook.py'],
     ['typo_hook.py', 'CheckpointHook', "'intervl'", "'interval'"]),
    ('train-zero-iterations',
     ['tools/train.py', '{config}', '--cfg-options',
      'train_dataloader.batch_size=8'],
     ['0 iterations', '4 video(s)', '1 process(es)', 'batch_size=8',
      'train_dataloader']),
    ('train-resume-truncated',
     ['tools/train.py', '{config}', '--resume', '{truncated}'],
     ['truncated.pth']),
    # the others
    ('publish-truncated', ['tools/publish_model.py', '{truncated}',
                           '{root}/published'], ['truncated.pth']),
    ('convert-missing', ['tools/convert/mmaction2_bmn.py',
                         '{root}/no.pth', '{root}/converted.pth'],
     ['no.pth', 'not found']),
    ('visualize-truncated', ['tools/analysis/visualize.py', '{config}',
                             '{truncated}'], ['truncated.pth']),
    ('get-flops-cfg-typo',
     ['tools/analysis/get_flops.py', '{config}', '--cfg-options',
      'model.backbone.feat_dimm=3'],
     ['--cfg-options model.backbone.feat_dimm', 'feat_dim']),
    ('benchmark-bad-part', ['tools/analysis/benchmark.py', '--parts',
                            'speed'], ['--parts', "'speed'"]),
    ('synthesize-missing-annotations',
     ['tools/data/synthesize.py', '--ann-file', '{root}/no_ann.json',
      '--out-dir', '{root}/syn'], ['no_ann.json']),
    ('make-demo-subset-missing',
     ['tools/data/make_demo_subset.py', '--ann-file', '{root}/no_ann.json',
      '--video-info', '{root}/no_info.csv', '--out', '{root}/sub.json'],
     ['no_ann.json']),
    ('synthesize-thumos-missing',
     ['tools/data/synthesize_thumos.py', '--ann-dir', '{root}/no_dir',
      '--out-dir', '{root}/th'], ['no_dir']),
    ('demo-missing-config', ['tools/demo.py', '--configs',
                             '{root}/no_config.py', '--work-dir',
                             '{root}/demo'], ['no_config.py']),
]


def fill(text, case):
    return text.format(**{k: v for k, v in case.items()
                          if isinstance(v, str)})


@pytest.mark.parametrize('argv,names', [m[1:] for m in MATRIX],
                         ids=[m[0] for m in MATRIX])
def test_bad_input_is_one_line(case, server, tmp_path, argv, names):
    argv = [fill(a, case) for a in argv]
    status, _, err = run_tool(server, argv, tmp_path)
    assert status == 2, err[-3000:]
    assert 'Traceback' not in err, err[-3000:]
    # The message: the one line that says error (argparse's starts with
    # the program's name); indented detail lines may follow.
    lines = [ln for ln in err.splitlines() if 'error: ' in ln]
    assert len(lines) == 1, err[-3000:]
    for name in names:
        assert fill(name, case) in lines[0], (name, lines[0])


def test_debug_shows_the_traceback(case, server, tmp_path):
    argv = ['tools/test.py', case['config'], case['truncated']]
    status, _, err = run_tool(server, argv + ['--debug'], tmp_path)
    assert status == 1 and 'Traceback' in err and 'truncated.pth' in err
    argv = [EVAL, case['gt'], osp.join(case['root'], 'nan_score.json')]
    status, _, err = run_tool(server, argv, tmp_path,
                              env={'RCL_MM_DEBUG': '1'})
    assert status == 1 and 'Traceback' in err
    assert 'EvaluationInputError' in err


def test_real_process_matches_the_forked_one(case, server, tmp_path):
    argv = ['tools/train.py', case['config'], '--cfg-options',
            'default_hooks.checkpoint.intervl=1']
    forked = run_forked(server, argv, tmp_path)
    real = run_process(argv)
    assert forked[0] == real[0] == 2
    line = [ln for ln in real[2].splitlines() if ln.startswith('error: ')]
    assert line and line[0] in forked[2]


def test_good_results_still_evaluate(case, tmp_path):
    status, out, err = run_process(
        [EVAL, case['gt'], osp.join(case['root'], 'good.json')])
    assert status == 0, err
    assert 'average' in out


def test_one_broken_video_does_not_stop_the_others(case, server, tmp_path):
    """A folder of 5 videos, the third (sorted) with NaN features, in a
    batch of 2: the 4 others are written, the broken one is named, the
    exit status is 3."""
    folder = tmp_path / 'videos'
    folder.mkdir()
    sources = sorted(os.listdir(case['features']))[:4]
    names = ['v_a.npy', 'v_b.npy', 'v_d.npy', 'v_e.npy']
    for src, name in zip(sources, names):
        os.symlink(osp.join(case['features'], src), folder / name)
    broken = np.load(osp.join(case['features'], sources[0]))
    broken[3] = np.nan
    np.save(folder / 'v_c_broken.npy', broken)
    out_dir = tmp_path / 'out'
    status, out, err = run_forked(server, [
        INFER, str(folder), '--config', case['config'], '--checkpoint',
        case['checkpoint'], '--out-dir', str(out_dir), '--batch-size', '2'
    ], tmp_path)
    assert status == 3, err[-3000:]
    assert 'Traceback' not in err
    assert '4 video(s) ->' in out
    written = sorted(os.listdir(out_dir))
    assert written == sorted(f'{osp.splitext(n)[0]}.{ext}' for n in names
                             for ext in ('json', 'png'))
    for name in names:
        result = json.load(open(out_dir / f'{osp.splitext(name)[0]}.json'))
        assert result['detections']
    assert 'error: 1 of 5 video(s) failed' in err
    assert f'{folder}/v_c_broken.npy: Feature file' in err
    assert 'NaN or Inf values at snippet index(es) 3' in err


def test_a_failed_forward_pass_is_one_video(case):
    """iter_detections: the forward pass of a batch fails for one video;
    it is rerun one video at a time and only that one fails."""
    from rcl_mm.apis import init_localizer, iter_detections
    model = init_localizer(case['config'], case['checkpoint'])
    files = [osp.join(case['features'], n)
             for n in sorted(os.listdir(case['features']))[:3]]
    bad = osp.splitext(osp.basename(files[1]))[0]
    forward = model.forward

    def failing(inputs, samples, mode):
        if any(s.video_name == bad for s in samples):
            raise RuntimeError(f'forward failed on {bad}')
        return forward(inputs, samples, mode=mode)

    model.forward = failing
    results = list(iter_detections(model, files, batch_size=3))
    model.forward = forward
    assert [r[0] for r in results] == files
    assert [r[2] is None for r in results] == [True, False, True]
    assert str(results[1][2]) == f'forward failed on {bad}'
    assert all(len(r[1]['scores']) for r in (results[0], results[2]))


def test_relative_out_and_the_users_umask(case, server, tmp_path):
    """test.py --out rel/r.json writes ./rel/r.json of the current
    directory (not under the work dir), with the mode open() would give
    (the metric's results file was 0600)."""
    cwd = tmp_path / 'here'
    cwd.mkdir()
    status, _, err = run_forked(server, [
        'tools/test.py', case['config'], case['checkpoint'], '--out',
        'rel/r.json', '--work-dir', 'wd'
    ], tmp_path, cwd=str(cwd))
    assert status == 0, err[-3000:]
    out = cwd / 'rel' / 'r.json'
    # The tiny config tests on the training annotations.
    train = json.load(open(osp.join(case['data_dir'],
                                    'anet_anno_train.json')))
    assert set(json.load(open(out))['results']) == {v[2:] for v in train}
    assert not (cwd / 'wd' / 'rel').exists()
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(out).st_mode & 0o777 == 0o666 & ~umask
