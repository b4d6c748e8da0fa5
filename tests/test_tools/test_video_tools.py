# Copyright (c) rcl_mm contributors. All rights reserved.
"""From raw videos: feature extraction, inference and a custom dataset,
through the command-line tools, on short generated videos."""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch

pytest.importorskip('av')

from rcl_mm.apis import init_localizer  # noqa: E402
from rcl_mm.testing.videos import write_test_video  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_EXTRACTOR = 'configs/feature_extraction/tiny_r18_1stage_test.py'
# The demo BMN, smaller, on the tiny extractor's 64-d features.
TINY_BMN = {
    'model.backbone.feat_dim': 64,
    'model.backbone.num_samples': 4,
    'model.backbone.hidden_dim_1d': 16,
    'model.backbone.hidden_dim_3d': 16,
    'model.head.in_channels': 16,
    'model.head.hidden_channels': 8,
}
# (name, frames) at 16 fps, 64 x 64.
VIDEOS = (('walk', 48), ('jump', 70))


def run_tool(args):
    return subprocess.run([sys.executable] + args, cwd=ROOT,
                          capture_output=True, text=True)


@pytest.fixture(scope='module')
def video_folder(tmp_path_factory):
    """Two good videos, a corrupt file and a video without frames."""
    folder = tmp_path_factory.mktemp('videos')
    for name, frames in VIDEOS:
        write_test_video(str(folder / f'{name}.mp4'), frames, fps=16)
    (folder / 'broken.mp4').write_bytes(b'\x00\x00\x00\x18ftypisom' +
                                        bytes(300))
    write_test_video(str(folder / 'empty.avi'), 0)
    (folder / 'notes.txt').write_text('not a video')
    return folder


def test_extract_features_folder_goes_on_after_bad_videos(video_folder,
                                                          tmp_path):
    out = tmp_path / 'features'
    proc = run_tool([
        'tools/data/extract_features.py', str(video_folder), '--config',
        TINY_EXTRACTOR, '--random-weights', '--out-dir', str(out),
        '--interval', '4'
    ])
    # Exit 3: some videos failed, each named with its reason.
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert 'error: 2 of 4 video(s) failed' in proc.stderr
    assert 'broken.mp4: cannot open the video' in proc.stderr
    assert 'empty.avi: the video has no frames (zero length)' in proc.stderr
    assert '[4/4 videos]' in proc.stderr  # the progress line
    assert sorted(os.listdir(out)) == [
        'jump.csv', 'jump.info.json', 'video_info.json', 'walk.csv',
        'walk.info.json']
    merged = json.loads((out / 'video_info.json').read_text())
    for name, frames in VIDEOS:
        info = merged[name]
        # One snippet every 4 frames; the last partial snippet dropped.
        assert info['num_frames'] == frames and info['fps'] == 16.0
        assert info['num_snippets'] == frames // 4
        assert info['feature_second'] == frames // 4 * 4 / 16
        assert info['feat_dim'] == 64
        lines = (out / f'{name}.csv').read_text().splitlines()
        assert lines[0].split(',')[:2] == ['f0', 'f1']
        assert len(lines) == 1 + frames // 4
    # The same features as npy, batch size 1: equal to the csv's digits.
    npy_out = tmp_path / 'npy'
    proc = run_tool([
        'tools/data/extract_features.py',
        str(video_folder / 'walk.mp4'), '--config', TINY_EXTRACTOR,
        '--random-weights', '--out-dir', str(npy_out), '--interval', '4',
        '--format', 'npy', '--batch-size', '1'
    ])
    assert proc.returncode == 0, proc.stderr[-2000:]
    csv = np.loadtxt(out / 'walk.csv', delimiter=',', skiprows=1)
    np.testing.assert_allclose(np.load(npy_out / 'walk.npy'), csv,
                               rtol=1e-5, atol=1e-6)


def test_extract_features_one_bad_video_is_the_run_error(video_folder,
                                                         tmp_path):
    proc = run_tool([
        'tools/data/extract_features.py',
        str(video_folder / 'broken.mp4'), '--config', TINY_EXTRACTOR,
        '--random-weights', '--out-dir', str(tmp_path)
    ])
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith(
        'error: cannot open the video')
    proc = run_tool([
        'tools/data/extract_features.py',
        str(video_folder / 'walk.mp4'), '--config', TINY_EXTRACTOR,
        '--out-dir', str(tmp_path)
    ])
    assert proc.returncode == 2
    assert 'error: no extractor checkpoint' in proc.stderr
    assert '--random-weights' in proc.stderr


@pytest.fixture(scope='module')
def tiny_localizer(tmp_path_factory):
    """A randomly initialised tiny BMN on 64-d features, as a checkpoint."""
    torch.manual_seed(0)
    model = init_localizer(osp.join(ROOT, 'configs/demo/bmn_demo.py'),
                           cfg_options=dict(TINY_BMN))
    path = tmp_path_factory.mktemp('bmn') / 'bmn_tiny.pth'
    torch.save(dict(state_dict=model.state_dict()), path)
    return str(path)


def test_inference_video_to_detections_and_plot(video_folder,
                                                 tiny_localizer, tmp_path):
    out = tmp_path / 'out'
    proc = run_tool([
        'tools/inference.py', str(video_folder), '--config',
        'configs/demo/bmn_demo.py', '--checkpoint', tiny_localizer,
        '--extractor', TINY_EXTRACTOR, '--extractor-random-weights',
        '--interval', '4', '--out-dir', str(out), '--strip-frames', '5',
        '--cfg-options'
    ] + [f'{k}={v}' for k, v in TINY_BMN.items()])
    assert proc.returncode == 3, proc.stderr[-2000:]  # 2 bad videos
    assert 'broken.mp4' in proc.stderr and 'empty.avi' in proc.stderr
    assert sorted(os.listdir(out)) == ['features', 'jump.json', 'jump.png',
                                       'walk.json', 'walk.png']
    for name, frames in VIDEOS:
        result = json.loads((out / f'{name}.json').read_text())
        # Seconds, over the duration read from the video.
        assert result['unit'] == 'seconds'
        assert result['duration'] == frames / 16
        assert result['video_info']['num_snippets'] == frames // 4
        covered = frames // 4 * 4 / 16
        assert result['video_info']['feature_second'] == covered
        assert result['detections']
        for det in result['detections']:
            assert 0 <= det['segment'][0] <= det['segment'][1] <= covered
        scores = [d['score'] for d in result['detections']]
        assert scores == sorted(scores, reverse=True)
        assert (out / f'{name}.png').read_bytes()[:4] == b'\x89PNG'
        assert (out / 'features' / f'{name}.npy').is_file()


def test_inference_on_one_video_equals_features_then_detections(
        video_folder, tiny_localizer, tmp_path):
    """Video in = extract_features.py, then inference.py on the features
    with the feature seconds as --duration."""
    common = ['--config', 'configs/demo/bmn_demo.py', '--checkpoint',
              tiny_localizer, '--cfg-options'] + [
                  f'{k}={v}' for k, v in TINY_BMN.items()]
    video = str(video_folder / 'jump.mp4')
    proc = run_tool(['tools/inference.py', video, '--extractor',
                     TINY_EXTRACTOR, '--extractor-random-weights',
                     '--interval', '4', '--out-dir',
                     str(tmp_path / 'a')] + common)
    assert proc.returncode == 0, proc.stderr[-2000:]
    proc = run_tool(['tools/data/extract_features.py', video, '--config',
                     TINY_EXTRACTOR, '--random-weights', '--interval', '4',
                     '--format', 'npy', '--out-dir', str(tmp_path / 'f')])
    assert proc.returncode == 0, proc.stderr[-2000:]
    proc = run_tool(['tools/inference.py', str(tmp_path / 'f' / 'jump.npy'),
                     '--duration', str(68 / 16), '--out-dir',
                     str(tmp_path / 'b')] + common)
    assert proc.returncode == 0, proc.stderr[-2000:]
    a = json.loads((tmp_path / 'a' / 'jump.json').read_text())
    b = json.loads((tmp_path / 'b' / 'jump.json').read_text())
    assert a['detections'] == b['detections']
    assert a['duration'] == 70 / 16 and b['duration'] == 68 / 16


def test_inference_feature_dimension_mismatch_names_both_configs(
        video_folder, tmp_path):
    torch.manual_seed(0)
    model = init_localizer(osp.join(ROOT, 'configs/demo/bmn_demo.py'))
    ckpt = tmp_path / 'bmn_400.pth'
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    proc = run_tool([
        'tools/inference.py', str(video_folder / 'walk.mp4'), '--config',
        'configs/demo/bmn_demo.py', '--checkpoint', str(ckpt),
        '--extractor', TINY_EXTRACTOR, '--extractor-random-weights',
        '--out-dir', str(tmp_path / 'o')
    ])
    assert proc.returncode == 2
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith(f'error: the extractor {TINY_EXTRACTOR} gives '
                           '64-d features but the localizer '
                           'configs/demo/bmn_demo.py expects feat_dim=400')
    assert not osp.exists(tmp_path / 'o' / 'features')


# ---------------------------------------------------------- custom dataset
# (name, subset, instances) of the generated dataset; 64 frames at 16 fps.
CUSTOM = (
    ('clip_a', 'training', [([0.5, 2.0], 'Bar'), ([2.5, 3.5], 'Flash')]),
    ('clip_b', 'training', [([1.0, 3.0], 'Bar')]),
    ('clip_c', 'training', [([0.0, 1.5], 'Flash')]),
    ('clip_d', 'validation', [([1.0, 2.5], 'Bar')]),
    ('clip_e', 'validation', [([0.25, 3.75], 'Flash')]),
    ('clip_f', 'testing', []),
)
# RCL-BMN of configs/custom/rcl_bmn_custom.py, tiny, on 64-d features
# resized to 32 snippets.
TINY_RCL = {
    'model.backbone.feat_dim': 64,
    'model.backbone.temporal_dim': 32,
    'model.backbone.duration_dim': 32,
    'model.backbone.num_samples': 4,
    'model.backbone.hidden_dim_1d': 16,
    'model.backbone.hidden_dim_3d': 16,
    'model.head.in_channels': 16,
    'model.head.hidden_channels': 8,
    'model.head.mlp_channels': 8,
    'model.neck.in_channels': 8,
    'model.neck.hdim': 8,
    'model.neck.cdim': 8,
    'model.neck.encoder_channels': '"(8,8,8,8)"',
    'model.neck.head_channels': 8,
    'model.neck.iters': 2,
    'model.train_cfg.sampler.num_random': 16,
    'model.train_cfg.sampler.num_jitter': 2,
    'train_cfg.max_epochs': 1,
    'train_cfg.val_interval': 1,
}


def anet_json(path, entries):
    database = {
        name: dict(subset=subset, duration=4.0, annotations=[
            dict(segment=segment, label=label)
            for segment, label in instances])
        for name, subset, instances in entries}
    path.write_text(json.dumps(dict(version='VERSION 1.3', taxonomy=[],
                                    database=database)))
    return str(path)


def thumos_csv(path, entries):
    lines = ['video,type,type_idx,start,end,startFrame,endFrame']
    for name, _, instances in entries:
        for (start, end), label in instances:
            lines.append(f'{name},{label},0,{start},{end},0,0')
    path.write_text('\n'.join(lines) + '\n')
    return str(path)


@pytest.fixture(scope='module')
def custom_features(tmp_path_factory):
    root = tmp_path_factory.mktemp('custom')
    videos = root / 'videos'
    videos.mkdir()
    for name, _, _ in CUSTOM:
        write_test_video(str(videos / f'{name}.mp4'), 64, fps=16)
    proc = run_tool(['tools/data/extract_features.py', str(videos),
                     '--config', TINY_EXTRACTOR, '--random-weights',
                     '--interval', '4', '--out-dir',
                     str(root / 'features')])
    assert proc.returncode == 0, proc.stderr[-2000:]
    return root


def test_prepare_custom_dataset_from_activitynet_json_and_thumos_csv(
        custom_features, tmp_path):
    features = str(custom_features / 'features')
    ann = anet_json(tmp_path / 'anet.json', CUSTOM)
    proc = run_tool(['tools/data/prepare_custom_dataset.py', ann,
                     '--feature-dir', features, '--out-dir',
                     str(tmp_path / 'from_json')])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert '3 training and 2 validation video(s), 2 class(es)' in \
        proc.stdout
    assert 'no annotation, left out: clip_f' in proc.stderr
    train = json.loads((tmp_path / 'from_json' /
                        'anet_anno_train.json').read_text())
    assert sorted(train) == ['clip_a', 'clip_b', 'clip_c']
    # Durations and frames read from the videos: 64 frames, 16 snippets.
    assert train['clip_a'] == dict(
        duration_second=4.0, duration_frame=64, feature_frame=64,
        annotations=[dict(segment=[0.5, 2.0], label='Bar'),
                     dict(segment=[2.5, 3.5], label='Flash')])
    assert json.loads((tmp_path / 'from_json' /
                       'classes.json').read_text()) == ['Bar', 'Flash']
    # The same videos as THUMOS csv files give the same files.
    train_csv = thumos_csv(tmp_path / 'train.csv', CUSTOM[:3])
    val_csv = thumos_csv(tmp_path / 'val.csv', CUSTOM[3:5])
    proc = run_tool(['tools/data/prepare_custom_dataset.py', train_csv,
                     '--val-annotations', val_csv, '--feature-dir',
                     features, '--out-dir', str(tmp_path / 'from_csv')])
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name in ('anet_anno_train.json', 'anet_anno_val.json',
                 'classes.json'):
        assert (tmp_path / 'from_csv' / name).read_text() == \
            (tmp_path / 'from_json' / name).read_text()


def test_prepare_custom_dataset_lists_every_problem(custom_features,
                                                    tmp_path):
    bad = list(CUSTOM) + [('clip_missing', 'training',
                           [([0.0, 1.0], 'Bar')])]
    bad[1] = ('clip_b', 'training', [([1.0, 9.0], 'Bar')])
    ann = anet_json(tmp_path / 'bad.json', bad)
    out = tmp_path / 'out'
    proc = run_tool(['tools/data/prepare_custom_dataset.py', ann,
                     '--feature-dir', str(custom_features / 'features'),
                     '--out-dir', str(out)])
    assert proc.returncode == 2
    assert 'error: 2 problem(s) between the annotations and the features' \
        in proc.stderr
    assert '(video clip_missing): no features' in proc.stderr
    assert '(video clip_b, instance 0): segment [1.0, 9.0] ends after the ' \
        'video (4.000 s)' in proc.stderr
    assert not out.exists()  # nothing written
    proc = run_tool(['tools/data/prepare_custom_dataset.py',
                     thumos_csv(tmp_path / 'a.csv', CUSTOM[:3]),
                     '--feature-dir', str(custom_features / 'features'),
                     '--out-dir', str(out)])
    assert proc.returncode == 2
    assert 'a THUMOS csv holds one subset' in proc.stderr
    assert '--val-annotations' in proc.stderr


def test_custom_dataset_trains_one_epoch(custom_features, tmp_path):
    data = tmp_path / 'data'
    ann = anet_json(tmp_path / 'anet.json', CUSTOM)
    proc = run_tool(['tools/data/prepare_custom_dataset.py', ann,
                     '--feature-dir', str(custom_features / 'features'),
                     '--out-dir', str(data)])
    assert proc.returncode == 0, proc.stderr[-2000:]
    options = dict(TINY_RCL)
    for split, ann_split in (('train', 'train'), ('val', 'val'),
                             ('test', 'val')):
        key = f'{split}_dataloader'
        options.update({
            f'{key}.dataset.ann_file': f'{data}/anet_anno_{ann_split}.json',
            f'{key}.dataset.data_prefix.video':
                f'{custom_features}/features',
            f'{key}.dataset.class_names': f'{data}/classes.json',
            f'{key}.dataset.pipeline.0.feat_dim': 64,
            f'{key}.dataset.pipeline.1.temporal_dim': 32,
            f'{key}.num_workers': 0,
            f'{key}.persistent_workers': False,
            f'{key}.batch_size': 2,
        })
    work_dir = tmp_path / 'work'
    proc = run_tool(['tools/train.py', 'configs/custom/rcl_bmn_custom.py',
                     '--work-dir', str(work_dir), '--cfg-options'] +
                    [f'{k}={v}' for k, v in options.items()])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (work_dir / 'epoch_1.pth').is_file()
    logs = list(work_dir.glob('*/vis_data/scalars.json'))
    assert logs, 'no training log'
    records = [json.loads(line) for line in logs[0].read_text().splitlines()]
    # Trained (finite losses) and validated (AR@AN on the val videos).
    losses = [r['loss'] for r in records if 'loss' in r]
    assert losses and all(np.isfinite(losses))
    assert any(any('AR@' in key or 'auc' in key.lower() for key in r)
               for r in records)


def test_extraction_throughput_tool(video_folder, tmp_path):
    out = tmp_path / 'throughput.json'
    proc = run_tool([
        'tools/analysis/extraction_throughput.py', TINY_EXTRACTOR,
        '--num-snippets', '16', '--batch-size', '4', '--video',
        str(video_folder / 'jump.mp4'), '--interval', '4', '--threads', '1',
        '--out', str(out)
    ])
    assert proc.returncode == 0, proc.stderr[-2000:]
    (result, ) = json.loads(out.read_text())
    assert json.loads(proc.stdout.strip()) == result
    # The whole video: 70 frames, a snippet every 4.
    assert result['num_snippets'] == 17 and result['batch_size'] == 4
    assert result['snippets_per_second'] == pytest.approx(
        17 / result['seconds'])
    assert result['frames_per_second'] == pytest.approx(
        70 / result['seconds'])
    assert result['torch_threads'] == 1 and result['feat_dim'] == 64
