# Copyright (c) rcl_mm contributors. All rights reserved.
"""THUMOS-like demo end to end, and windowed inference on a long video."""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from cli_helpers import ROOT, run

from rcl_mm.apis import detect_actions, init_localizer
from rcl_mm.datasets import synthesize_thumos_demo, window_starts
from rcl_mm.evaluation.functional import THUMOS14_UCF101_ID

CONFIG = 'configs/demo/bmn_thumos_demo.py'
UNET = osp.join(ROOT, 'data', 'demo_thumos', 'annotations', 'uNet_test.npy')
TINY = [
    'model.backbone.num_samples=4', 'model.backbone.hidden_dim_1d=16',
    'model.backbone.hidden_dim_3d=16', 'model.head.in_channels=16',
    'model.head.hidden_channels=8'
]


@pytest.fixture(scope='module')
def demo_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('thumos_demo'))
    summary = synthesize_thumos_demo(out, num_train=3, num_test=2, seed=1,
                                     max_seconds=150.0)
    assert (summary['num_train'], summary['num_test']) == (3, 2)
    return out


def options(data_dir):
    opts = TINY + ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1']
    for split, ann in (('train', 'train'), ('val', 'test'),
                       ('test', 'test')):
        key = f'{split}_dataloader'
        opts += [
            f'{key}.dataset.ann_file={data_dir}/{ann}_Annotation.csv',
            f'{key}.dataset.data_prefix.video={data_dir}/features',
            f'{key}.dataset.video_info_file={data_dir}/video_info.json',
            f'{key}.num_workers=0', f'{key}.persistent_workers=False'
        ]
    return opts


def test_demo_trains_tests_and_writes_thumos_results(demo_dir, tmp_path):
    work_dir = str(tmp_path / 'work')
    run(['tools/train.py', CONFIG, '--work-dir', work_dir,
         '--cfg-options'] + options(demo_dir))
    checkpoint = osp.join(work_dir, 'epoch_1.pth')
    out = str(tmp_path / 'detections.json')
    stdout = run(['tools/test.py', CONFIG, checkpoint, '--work-dir',
                  work_dir, '--out', out, '--cfg-options'] +
                 options(demo_dir))
    values = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip('|').split('|')]
        if len(cells) == 2 and cells[0].startswith('thumos14/'):
            values[cells[0][len('thumos14/'):]] = float(cells[1])
    thresholds = ['mAP@0.30', 'mAP@0.40', 'mAP@0.50', 'mAP@0.60',
                  'mAP@0.70']
    assert list(values) == thresholds + ['average_mAP'], stdout[-2000:]
    assert all(0 <= v <= 1 for v in values.values())
    assert values['average_mAP'] == pytest.approx(
        np.mean([values[k] for k in thresholds]), abs=1e-3)

    with open(out) as f:
        results = json.load(f)['results']
    with open(osp.join(demo_dir, 'video_info.json')) as f:
        info = json.load(f)
    test_videos = sorted(v for v in info if v.startswith('video_test'))
    assert sorted(results) == test_videos
    for video, detections in results.items():
        assert 0 < len(detections) <= 2 * 200
        assert {d['label'] for d in detections} <= set(THUMOS14_UCF101_ID)
        for det in detections:
            assert 0 <= det['segment'][0] < det['segment'][1] <= \
                info[video]['duration_second'] + 1e-6

    # The same checkpoint on one video from the command line.
    video = test_videos[0]
    inference_dir = str(tmp_path / 'inference')
    run(['tools/inference.py', osp.join(demo_dir, 'features',
                                        video + '.npy'), '--config', CONFIG,
         '--checkpoint', checkpoint, '--class-scores', UNET, '--out-dir',
         inference_dir, '--cfg-options'] + TINY)
    with open(osp.join(inference_dir, video + '.json')) as f:
        single = json.load(f)
    assert single['unit'] == 'seconds'
    assert single['duration'] == pytest.approx(
        info[video]['duration_second'])
    assert 0 < len(single['detections']) <= 400
    assert all(d['label'] in THUMOS14_UCF101_ID
               for d in single['detections'])


@pytest.fixture
def one_thread():
    # On busy shared CPUs torch's multi-threaded ops stall (55 s instead of
    # 2.4 s for this test on 2 loaded cores); the result does not depend on
    # the thread count.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_long_video_runs_in_bounded_window_batches(tmp_path, one_thread):
    # A 2-hour video at 1/6 s per snippet: 43,200 snippets.
    num_snippets = 43200
    rng = np.random.default_rng(0)
    path = str(tmp_path / 'long_video.npy')
    np.save(path, rng.standard_normal((num_snippets, 8)).astype(np.float32))
    model = init_localizer(
        osp.join(ROOT, CONFIG), cfg_options=dict(
            model=dict(backbone=dict(feat_dim=8, num_samples=4,
                                     hidden_dim_1d=8, hidden_dim_3d=8),
                       head=dict(in_channels=8, hidden_channels=4))))
    model.test_cfg['window_top_k'] = 20  # 13,480 candidates to merge
    torch.manual_seed(0)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.2)
    batches = []
    forward = model.window_candidates

    def counting(inputs):
        batches.append(inputs.shape[0])
        return forward(inputs)

    model.window_candidates = counting
    windowed = detect_actions(model, [path], batch_size=8)[0]
    num_windows = len(window_starts(num_snippets, 128, 64))
    assert num_windows == 674
    assert sum(batches) == num_windows and max(batches) == 8
    batches.clear()
    at_once = detect_actions(model, [path], batch_size=num_windows)[0]
    assert batches == [num_windows]
    np.testing.assert_array_equal(windowed['segments'], at_once['segments'])
    # Scores to float32 rounding: the network's kernels depend on the
    # batch size.
    np.testing.assert_allclose(windowed['scores'], at_once['scores'],
                               rtol=1e-5)
    assert windowed['duration'] == pytest.approx(7200.0)
    assert len(windowed['scores']) == 200
    assert windowed['segments'].min() >= 0
    assert windowed['segments'].max() <= 7200.0 + 1e-9
    # Detections come from the whole video, not only its start.
    assert windowed['segments'][:, 0].max() > 3600
