# Copyright (c) rcl_mm contributors. All rights reserved.
"""Model-zoo publishing and inference on new videos."""
import hashlib
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.runner import Runner

import rcl_mm  # noqa: F401
from rcl_mm.datasets.synthetic import synthesize_demo_dataset
from rcl_mm.utils.checkpoint import publish_checkpoint
from rcl_mm.utils.launch import prepare_config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = {
    'model.backbone.num_samples': 4,
    'model.backbone.hidden_dim_1d': 16,
    'model.backbone.hidden_dim_3d': 16,
    'model.head.in_channels': 16,
    'model.head.hidden_channels': 8,
}


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """A tiny demo BMN trained for one epoch, and its data."""
    root = tmp_path_factory.mktemp('zoo')
    data_dir = str(root / 'data')
    synthesize_demo_dataset(data_dir, seed=2, num_train=8, num_val=4,
                            formats=('npy', ))
    options = dict(TINY)
    for split, ann in (('train', 'train'), ('val', 'val'), ('test', 'val')):
        key = f'{split}_dataloader'
        options.update({
            f'{key}.dataset.ann_file': f'{data_dir}/anet_anno_{ann}.json',
            f'{key}.dataset.data_prefix.video': f'{data_dir}/npy',
            f'{key}.dataset.feature_ext': '.npy',
            f'{key}.num_workers': 0,
            f'{key}.persistent_workers': False,
            f'{key}.batch_size': 4,
        })
    options.update({'train_cfg.max_epochs': 1, 'train_cfg.val_interval': 1})
    work_dir = str(root / 'work')
    cfg = prepare_config(osp.join(ROOT, 'configs/demo/bmn_demo.py'),
                         work_dir=work_dir, cfg_options=options)
    Runner.from_cfg(cfg).train()
    return dict(data_dir=data_dir, work_dir=work_dir, options=options,
                checkpoint=osp.join(work_dir, 'epoch_1.pth'))


def test_published_checkpoint_gives_the_same_metrics(trained, tmp_path):
    published = publish_checkpoint(trained['checkpoint'],
                                   str(tmp_path / 'bmn_demo'))
    data = open(published, 'rb').read()
    assert osp.basename(published) == \
        f'bmn_demo-{hashlib.sha256(data).hexdigest()[:8]}.pth'
    checkpoint = torch.load(published)
    assert set(checkpoint) == {'meta', 'state_dict'}
    assert os.path.getsize(published) < os.path.getsize(
        trained['checkpoint'])

    metrics = []
    for i, path in enumerate((trained['checkpoint'], published)):
        cfg = prepare_config(
            osp.join(ROOT, 'configs/demo/bmn_demo.py'),
            work_dir=str(tmp_path / f'test_{i}'),
            cfg_options=trained['options'])
        cfg.load_from = path
        metrics.append(Runner.from_cfg(cfg).test())
    assert metrics[0] == metrics[1]
    assert len(metrics[0]) > 0


def test_publish_rejects_a_file_without_weights(tmp_path):
    bad = tmp_path / 'bad.pth'
    torch.save({'optimizer': {}}, bad)
    with pytest.raises(KeyError, match='no "state_dict"'):
        publish_checkpoint(str(bad), str(tmp_path / 'x'))


def test_inference_on_a_folder_of_new_videos(trained, tmp_path):
    folder = tmp_path / 'videos'
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, length in (('long', 173), ('short', 40)):
        np.save(folder / f'{name}.npy',
                rng.standard_normal((length, 400)).astype(np.float32))
    csv_feature = rng.standard_normal((100, 400)).astype(np.float32)
    np.savetxt(folder / 'plain.csv', csv_feature, delimiter=',',
               header=','.join(f'f{i}' for i in range(400)), comments='')
    out_dir = tmp_path / 'out'
    cli = [
        sys.executable, osp.join(ROOT, 'tools/inference.py'),
        '--config', osp.join(ROOT, 'configs/demo/bmn_demo.py'),
        '--checkpoint', trained['checkpoint'], '--cfg-options'
    ] + [f'{k}={v}' for k, v in TINY.items()]
    subprocess.run(cli[:2] + [str(folder), '--out-dir', str(out_dir)] +
                   cli[2:], check=True, capture_output=True)
    assert sorted(os.listdir(out_dir)) == [
        'long.json', 'long.png', 'plain.json', 'plain.png', 'short.json',
        'short.png'
    ]
    for name, length in (('long', 173), ('short', 40), ('plain', 100)):
        result = json.loads((out_dir / f'{name}.json').read_text())
        assert result['unit'] == 'snippets'
        assert result['duration'] == length
        scores = [d['score'] for d in result['detections']]
        assert 0 < len(scores) <= 100
        assert scores == sorted(scores, reverse=True)
        for det in result['detections']:
            assert 0 <= det['segment'][0] <= det['segment'][1] <= length

    # One video with its duration: segments in seconds.
    single = tmp_path / 'single'
    subprocess.run(cli[:2] + [
        str(folder / 'long.npy'), '--duration', '86.5', '--out-dir',
        str(single)
    ] + cli[2:], check=True, capture_output=True)
    result = json.loads((single / 'long.json').read_text())
    assert result['unit'] == 'seconds' and result['duration'] == 86.5
    assert max(d['segment'][1] for d in result['detections']) <= 86.5


def test_inference_names_a_file_of_the_wrong_dimension(trained, tmp_path):
    path = tmp_path / 'narrow.npy'
    np.save(path, np.zeros((50, 399), dtype=np.float32))
    proc = subprocess.run([
        sys.executable, osp.join(ROOT, 'tools/inference.py'), str(path),
        '--config', osp.join(ROOT, 'configs/demo/bmn_demo.py'),
        '--checkpoint', trained['checkpoint'], '--out-dir',
        str(tmp_path / 'o'), '--cfg-options'
    ] + [f'{k}={v}' for k, v in TINY.items()], capture_output=True,
        text=True)
    assert proc.returncode != 0
    assert 'narrow.npy' in proc.stderr and '399' in proc.stderr


def test_inference_fuses_class_scores(trained, tmp_path):
    rng = np.random.default_rng(1)
    video = tmp_path / 'v_clip.npy'
    np.save(video, rng.standard_normal((80, 400)).astype(np.float32))
    scores_file = tmp_path / 'classification.json'
    scores_file.write_text(json.dumps({
        'version': 'VERSION 1.3',
        'results': {'clip': [{'label': 'Surfing', 'score': 0.8},
                             {'label': 'Bowling', 'score': 0.1},
                             {'label': 'Archery', 'score': 0.5}]},
        'external_data': {}}))
    common = [
        '--config', osp.join(ROOT, 'configs/demo/bmn_demo.py'),
        '--checkpoint', trained['checkpoint'], '--cfg-options'
    ] + [f'{k}={v}' for k, v in TINY.items()]
    plain, fused = tmp_path / 'plain', tmp_path / 'fused'
    for out, extra in ((plain, []), (fused, [
            '--class-scores', str(scores_file)])):
        subprocess.run([
            sys.executable, osp.join(ROOT, 'tools/inference.py'), str(video),
            '--duration', '40', '--out-dir', str(out)] + extra + common,
            check=True, capture_output=True)
    proposals = json.loads((plain / 'v_clip.json').read_text())['detections']
    detections = json.loads((fused / 'v_clip.json').read_text())['detections']
    # Top-2 classes: each proposal twice, scored by 0.8 and 0.5.
    assert len(detections) == 2 * len(proposals)
    assert {d['label'] for d in detections} == {'Surfing', 'Archery'}
    best = proposals[0]
    by_label = {d['label']: d for d in detections
                if d['segment'] == best['segment']}
    assert by_label['Surfing']['score'] == pytest.approx(0.8 * best['score'])
    assert by_label['Archery']['score'] == pytest.approx(0.5 * best['score'])
    scores = [d['score'] for d in detections]
    assert scores == sorted(scores, reverse=True)
