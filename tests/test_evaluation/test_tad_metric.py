# Copyright (c) rcl_mm contributors. All rights reserved.
"""TADMetric: values, the dump, classifier fusion, two processes."""
import json
import os
import os.path as osp
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from mmengine.structures import InstanceData

from rcl_mm.evaluation import TADMetric
from rcl_mm.evaluation.functional import (ar_at_an,
                                          average_recall_vs_proposals,
                                          detection_map, load_ground_truth,
                                          load_predictions)
from rcl_mm.registry import METRICS


def make_samples(num_videos=10, seed=0):
    """Model outputs as mmengine's Evaluator hands them over (dicts)."""
    rng = np.random.default_rng(seed)
    samples = []
    for v in range(num_videos):
        duration = float(rng.uniform(50, 150))
        anns = []
        for _ in range(rng.integers(1, 4)):
            s = float(rng.uniform(0, duration - 10))
            anns.append({'segment': [s, s + float(rng.uniform(2, 10))],
                         'label': 'AB'[rng.integers(2)]})
        segs = []
        for _ in range(20):
            a = anns[rng.integers(len(anns))]['segment']
            segs.append([a[0] + rng.normal(0, 1), a[1] + rng.normal(0, 1)])
        segs = torch.tensor(segs, dtype=torch.float32).sort(dim=1).values
        scores = torch.from_numpy(rng.random(20).astype(np.float32))
        pred = InstanceData(segments=segs, scores=scores)
        samples.append({'video_name': f'v_video{v:03d}',
                        'duration_second': duration,
                        'annotations': anns,
                        'pred_instances': pred.to_dict()})
    return samples


def gt_database(samples):
    return {s['video_name'][2:]: {
        'subset': 'validation', 'duration': s['duration_second'],
        'annotations': s['annotations']} for s in samples}


def test_proposal_metric_equals_the_functions_on_its_dump(tmp_path):
    samples = make_samples()
    dump = str(tmp_path / 'sub' / 'results.json')
    metric = METRICS.build(dict(type='TADMetric', dump=dump))
    metric.process({}, samples[:6])
    metric.process({}, samples[6:] + samples[:2])  # padding repeats
    metrics = metric.compute_metrics(metric.results)
    assert list(metrics) == ['AR@1', 'AR@5', 'AR@10', 'AR@100', 'AUC']
    # Exactly the CLI's numbers on the dumped file.
    gt = load_ground_truth({'database': gt_database(samples)})
    preds = load_predictions(dump)
    expected = ar_at_an(average_recall_vs_proposals(gt, preds, 100))
    assert metrics == expected
    assert 0 < metrics['AR@1'] < metrics['AR@100'] <= 1
    with open(dump) as f:
        content = json.load(f)
    assert sorted(content['results']) == [f'video{v:03d}' for v in
                                          range(10)]
    first = content['results']['video000'][0]
    assert set(first) == {'segment', 'score'}
    assert not [p for p in os.listdir(osp.dirname(dump)) if 'tmp' in p]


def test_detection_with_class_scores(tmp_path):
    samples = make_samples(seed=1)
    scores_file = tmp_path / 'cuhk.json'
    # CUHK's layout; videos named without v_.
    table = {s['video_name'][2:]: [0.7, 0.3] if i % 2 else [0.2, 0.8]
             for i, s in enumerate(samples)}
    scores_file.write_text(json.dumps({'class': ['A', 'B'],
                                       'results': table}))
    dump = str(tmp_path / 'det.json')
    metric = TADMetric(metric=('detection', 'proposal'),
                       class_scores=dict(file=str(scores_file),
                                         format='cuhk', top_k=1),
                       dump=dump)
    metric.process({}, samples)
    metrics = metric.compute_metrics(metric.results)
    gt = load_ground_truth({'database': gt_database(samples)})
    preds = load_predictions(dump, require_labels=True)
    det = detection_map(gt, preds)
    assert metrics['average_mAP'] == det['average_mAP'] > 0
    assert [metrics[f'mAP@{t:.2f}'] for t in det['tiou_thresholds']] == \
        det['mAP'].tolist()
    content = json.load(open(dump))['results']
    # top-1 class; score = proposal score x class score.
    first = content['video000'][0]
    raw = samples[0]['pred_instances']['scores'][0].item()
    assert first['label'] == 'B'
    assert first['score'] == pytest.approx(raw * 0.8)


def test_class_agnostic_detection():
    samples = make_samples(seed=2)
    metric = TADMetric(metric='detection', dataset='thumos14')
    metric.process({}, samples)
    metrics = metric.compute_metrics(metric.results)
    assert list(metrics) == ['mAP@0.30', 'mAP@0.40', 'mAP@0.50',
                             'mAP@0.60', 'mAP@0.70', 'average_mAP']
    assert 0 < metrics['mAP@0.70'] <= metrics['mAP@0.30'] <= 1


def test_missing_metainfo_says_what_to_add():
    sample = make_samples(1)[0]
    del sample['annotations']
    with pytest.raises(KeyError, match='v_video000 has no "annotations"'):
        TADMetric().process({}, [sample])


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _worker(rank, world_size, port, out_dir):
    import torch.distributed as dist
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port),
                      RANK=str(rank), WORLD_SIZE=str(world_size))
    dist.init_process_group('gloo', rank=rank, world_size=world_size)
    samples = make_samples(11, seed=3)
    metric = TADMetric(metric=('proposal', 'detection'),
                       dump=osp.join(out_dir, 'dist.json'))
    # DefaultSampler's split: rank r gets r, r + world, ...; the last
    # rank is padded with the first sample.
    part = samples[rank::world_size]
    if len(part) < (len(samples) + world_size - 1) // world_size:
        part = part + samples[:1]
    metric.process({}, part)
    metrics = metric.evaluate(len(samples))
    with open(osp.join(out_dir, f'rank{rank}.json'), 'w') as f:
        json.dump(metrics, f)
    dist.destroy_process_group()


def test_two_processes_give_the_one_process_numbers(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2,
             join=True)
    single = TADMetric(metric=('proposal', 'detection'),
                       dump=str(tmp_path / 'single.json'))
    single.process({}, make_samples(11, seed=3))
    expected = single.evaluate(11)
    for rank in range(2):
        with open(tmp_path / f'rank{rank}.json') as f:
            assert json.load(f) == expected
    # mmengine prefixes the names with the dataset.
    assert 0 < expected['activitynet/AR@100'] <= 1
    assert 0 < expected['activitynet/average_mAP']
    assert json.load(open(tmp_path / 'dist.json')) == json.load(
        open(tmp_path / 'single.json'))


def test_fusion_leaves_out_classes_without_ground_truth(tmp_path):
    samples = make_samples(seed=4)
    ab = {s['video_name'][2:]: [0.6, 0.4] if i % 3 else [0.1, 0.9]
          for i, s in enumerate(samples)}
    abc = {v: row + [0.95] for v, row in ab.items()}  # C always first
    metrics = []
    for name, table, top_k in (('ab', ab, 1), ('abc', abc, 2)):
        path = tmp_path / f'{name}.json'
        names = ['A', 'B', 'C'][:len(next(iter(table.values())))]
        path.write_text(json.dumps({'class': names, 'results': table}))
        metric = TADMetric(metric='detection', class_scores=dict(
            file=str(path), top_k=top_k), dump=str(tmp_path / 'd.json'))
        metric.process({}, samples)
        metrics.append(metric.compute_metrics(metric.results))
    # C has no ground truth: its detections are not evaluated, and the
    # top-2 of A, B, C is C and the top-1 of A, B.
    assert metrics[0] == metrics[1]
    assert metrics[0]['average_mAP'] > 0
    labels = {d['label'] for dets in json.load(
        open(tmp_path / 'd.json'))['results'].values() for d in dets}
    assert labels == {'A', 'B', 'C'}
