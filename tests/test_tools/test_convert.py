# Copyright (c) rcl_mm contributors. All rights reserved.
"""tools/convert/mmaction2_bmn.py turns an mmaction2 checkpoint into ours."""
import os.path as osp
import subprocess
import sys

import torch

import rcl_mm  # noqa: F401
from mmaction.models import BMN as MMBMN  # noqa: E402,I001
from rcl_mm.models import BMN  # noqa: E402
from rcl_mm.utils import convert_mmaction2_bmn  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
KWARGS = dict(
    temporal_dim=20, boundary_ratio=0.5, num_samples=6,
    num_samples_per_bin=3, feat_dim=12, soft_nms_alpha=0.4,
    soft_nms_low_threshold=0.5, soft_nms_high_threshold=0.9,
    post_process_top_k=100, hidden_dim_1d=8, hidden_dim_2d=8,
    hidden_dim_3d=12)


def test_convert_cli_gives_equal_outputs(tmp_path):
    torch.manual_seed(0)
    reference = MMBMN(**KWARGS).eval()
    src, dst = tmp_path / 'mm.pth', tmp_path / 'ours.pth'
    # An mmengine-style checkpoint of a DDP-wrapped model.
    torch.save(dict(meta=dict(epoch=9), state_dict={
        'module.' + k: v for k, v in reference.state_dict().items()
    }), src)
    subprocess.run([
        sys.executable, osp.join(ROOT, 'tools/convert/mmaction2_bmn.py'),
        str(src), str(dst)
    ], check=True, capture_output=True)
    checkpoint = torch.load(dst)
    assert checkpoint['meta']['epoch'] == 9
    assert checkpoint['meta']['converted_from']['source'] == 'mmaction2 BMN'
    # The 128 MB-at-T=100 sampling mask is not carried over.
    assert not any('mask' in k for k in checkpoint['state_dict'])
    ours = BMN(**KWARGS).eval()
    ours.load_state_dict(checkpoint['state_dict'])
    inputs = list(torch.randn(2, 12, 20))
    with torch.no_grad():
        expected = reference(inputs, None, mode='tensor')
        actual = ours(inputs, None, mode='tensor')
    for got, want in zip(actual, expected):
        assert float((got - want).abs().max() / want.abs().max()) <= 1e-5


def test_load_from_a_converted_checkpoint(tmp_path):
    """``load_from`` takes a converted mmaction2 BMN checkpoint."""
    from mmengine.runner import Runner

    from rcl_mm.datasets.synthetic import synthesize_demo_dataset
    from rcl_mm.utils.checkpoint import save_checkpoint_atomic
    from rcl_mm.utils.launch import prepare_config

    torch.manual_seed(1)
    reference = MMBMN(
        temporal_dim=100, boundary_ratio=0.5, num_samples=4,
        num_samples_per_bin=3, feat_dim=400, soft_nms_alpha=0.4,
        soft_nms_low_threshold=0.5, soft_nms_high_threshold=0.9,
        post_process_top_k=100, hidden_dim_1d=16, hidden_dim_2d=8,
        hidden_dim_3d=16)
    converted = str(tmp_path / 'converted.pth')
    save_checkpoint_atomic(
        dict(state_dict=convert_mmaction2_bmn(reference.state_dict())),
        converted)
    data_dir = str(tmp_path / 'data')
    synthesize_demo_dataset(data_dir, seed=3, num_train=4, num_val=4,
                            formats=('npy', ))
    cfg = prepare_config(
        osp.join(ROOT, 'configs/demo/bmn_demo.py'),
        work_dir=str(tmp_path / 'work'),
        cfg_options={
            'model.backbone.num_samples': 4,
            'model.backbone.hidden_dim_1d': 16,
            'model.backbone.hidden_dim_3d': 16,
            'model.head.in_channels': 16,
            'model.head.hidden_channels': 8,
            'test_dataloader.dataset.ann_file':
            f'{data_dir}/anet_anno_val.json',
            'test_dataloader.dataset.data_prefix.video': f'{data_dir}/npy',
            'test_dataloader.dataset.feature_ext': '.npy',
            'test_dataloader.num_workers': 0,
            'test_dataloader.persistent_workers': False,
        })
    cfg.load_from = converted
    runner = Runner.from_cfg(cfg)
    runner.test()
    expected = convert_mmaction2_bmn(reference.state_dict())
    actual = runner.model.state_dict()
    assert set(actual) == set(expected)
    for key, value in expected.items():
        assert torch.equal(actual[key], value), key
