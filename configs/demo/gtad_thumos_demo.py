# G-TAD on the THUMOS-like demo: a small G-TAD (64-d GCNeXt of 16 x 4
# groups, 8 + 2 bins) on windows of 128 snippets with 32 durations; data
# and schedule: configs/_base_/demo_thumos.py.
_base_ = ['../_base_/models/gtad_400x100.py', '../_base_/demo_thumos.py']

model = dict(
    backbone=dict(
        feat_dim=64,
        temporal_dim=128,
        duration_dim=32,
        hidden_dim_1d=64,
        hidden_dim_3d=64,
        groups=16,
        width_group=4,
        num_samples=8,
        num_context_samples=2),
    head=dict(in_channels=64, hidden_channels=32),
    test_cfg=dict(window_top_k=50))

work_dir = './work_dirs/gtad_thumos_demo'
