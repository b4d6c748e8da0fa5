# Copyright (c) rcl_mm contributors. All rights reserved.
"""tools/convert/mmaction2_bmn.py turns an mmaction2 checkpoint into ours."""
import os.path as osp
import subprocess
import sys

import torch

import rcl_mm  # noqa: F401
from mmaction.models import BMN as MMBMN  # noqa: E402,I001
from rcl_mm.models import BMN  # noqa: E402

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
