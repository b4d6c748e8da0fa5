# Copyright (c) rcl_mm contributors. All rights reserved.
"""docs/rcl.md's "Adding RCL to an mmaction2 localizer config", as a user
runs it: convert an mmaction2 BMN checkpoint, write the doc's config, train
with tools/train.py. No option beyond the data paths and a smaller model."""
import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys

import torch
from demo_options import dataloader_options
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint

import rcl_mm  # noqa: F401
from mmaction.models import BMN as MMBMN  # noqa: E402,I001
from rcl_mm.datasets.synthetic import synthesize_demo_dataset  # noqa: E402
from rcl_mm.registry import MODELS  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# The doc's network, smaller so that the test takes seconds; the mmaction2
# BMN below has the same sizes.
SMALL = dict(num_samples=4, hidden_dim_1d=16, hidden_dim_2d=8,
             hidden_dim_3d=16)


def doc_snippet() -> str:
    """The config block of the section, as a user copies it."""
    with open(osp.join(ROOT, 'docs', 'rcl.md'), encoding='utf-8') as f:
        text = f.read()
    section = text.split('## Adding RCL to an mmaction2 localizer config')[1]
    return re.search(r'```python\n(.*?)```', section, re.S).group(1)


def cfg_options(data_dir):
    opts = [
        f'model.backbone.num_samples={SMALL["num_samples"]}',
        f'model.backbone.hidden_dim_1d={SMALL["hidden_dim_1d"]}',
        f'model.backbone.hidden_dim_3d={SMALL["hidden_dim_3d"]}',
        f'model.head.in_channels={SMALL["hidden_dim_3d"]}',
        f'model.head.hidden_channels={SMALL["hidden_dim_2d"]}',
        f'model.neck.in_channels={SMALL["hidden_dim_2d"]}',
        'model.neck.iters=2', 'train_cfg.max_epochs=1'
    ]
    opts += dataloader_options(data_dir, batch_size=4,
                               features='csv_mean_100')
    return opts


def test_doc_snippet_trains_from_a_converted_mmaction2_bmn(tmp_path):
    data_dir = str(tmp_path / 'data')
    synthesize_demo_dataset(data_dir, seed=2, num_train=8, num_val=4,
                            formats=('csv', ))
    user = tmp_path / 'user'
    user.mkdir()
    # A freshly built mmaction2 BMN, saved as mmengine saves it, converted
    # with our tool to the path the doc's config loads.
    torch.manual_seed(0)
    reference = MMBMN(
        temporal_dim=100, boundary_ratio=0.5, num_samples_per_bin=3,
        feat_dim=400, soft_nms_alpha=0.4, soft_nms_low_threshold=0.5,
        soft_nms_high_threshold=0.9, post_process_top_k=100,
        **SMALL).eval()
    torch.save(dict(meta=dict(epoch=9), state_dict=reference.state_dict()),
               user / 'bmn_mmaction2.pth')
    subprocess.run([
        sys.executable, osp.join(ROOT, 'tools/convert/mmaction2_bmn.py'),
        'bmn_mmaction2.pth', 'checkpoints/bmn_400x100_rcl_mm.pth'
    ], cwd=user, check=True, capture_output=True)
    (user / 'my_rcl_bmn.py').write_text(doc_snippet())

    # The RCL parts start with zero output: with the converted checkpoint
    # loaded as the Runner loads it, the map is mmaction2 BMN's.
    cfg = Config.fromfile(str(user / 'my_rcl_bmn.py'))
    cfg.merge_from_dict(Config(dict(model=dict(
        backbone=dict(num_samples=4, hidden_dim_1d=16, hidden_dim_3d=16),
        head=dict(in_channels=16, hidden_channels=8),
        neck=dict(in_channels=8, iters=2)))))
    with DefaultScope.overwrite_default_scope('mmaction'):
        model = MODELS.build(cfg.model).eval()
    load_checkpoint(model, str(user / cfg.load_from), strict=False)
    x = torch.randn(2, 400, 100)
    with torch.no_grad():
        expected = reference(list(x), None, mode='tensor')
        actual = model(x, None, mode='tensor')
    for got, want in zip(actual, expected):
        assert float((got - want).abs().max() / want.abs().max()) <= 1e-5

    # One epoch with tools/train.py, run from the user's folder.
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools/train.py'), 'my_rcl_bmn.py',
         '--cfg-options'] + cfg_options(data_dir),
        cwd=user, capture_output=True, text=True,
        env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 0, proc.stderr[-3000:]
    printed = proc.stdout + proc.stderr
    assert 'Load checkpoint from checkpoints/bmn_400x100_rcl_mm.pth' in \
        printed
    assert 'does not fit' not in printed
    # mmaction2's ANetMetric wrote into this run's work dir only.
    work_dir = user / 'work_dirs' / 'rcl_bmn_mmaction2_anet'
    assert (work_dir / 'epoch_1.pth').is_file()
    with open(work_dir / 'results.json') as f:
        results = json.load(f)
    with open(osp.join(data_dir, 'anet_anno_val.json')) as f:
        assert set(results['results']) == {v[2:] for v in json.load(f)}
    assert glob.glob(str(user / 'work_dirs' / '*')) == [str(work_dir)]
    assert 'activitynet/auc: ' in printed  # ANetMetric's names, prefixed


def test_results_follow_the_work_dir(tmp_path):
    from rcl_mm.utils.launch import prepare_config
    config = osp.join(ROOT, 'configs/rcl_bmn_mmaction2_anet.py')
    cfg = prepare_config(config)
    assert cfg.test_evaluator.dump_config.out == \
        './work_dirs/rcl_bmn_mmaction2_anet/results.json'
    cfg = prepare_config(config, work_dir=str(tmp_path / 'run'))
    for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
        assert evaluator.dump_config.out == str(tmp_path / 'run' /
                                                'results.json')
        assert evaluator.prefix == 'activitynet'
