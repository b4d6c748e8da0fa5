# BMN on the THUMOS-like demo (synthetic features on real THUMOS14
# timelines, tools/data/synthesize_thumos.py): windows of 128 snippets,
# 32 durations, a small BMN so that training and testing take minutes on
# 2 CPU cores. Data and schedule: configs/_base_/demo_thumos.py.
_base_ = ['../_base_/models/bmn_400x100.py', '../_base_/demo_thumos.py']

model = dict(
    backbone=dict(
        feat_dim=64,
        temporal_dim=128,
        duration_dim=32,
        num_samples=8,
        hidden_dim_1d=64,
        hidden_dim_3d=64),
    head=dict(in_channels=64, hidden_channels=32),
    test_cfg=dict(window_top_k=50))

work_dir = './work_dirs/bmn_thumos_demo'
