# RCL-BMN on the THUMOS-like demo: the demo BMN's small backbone
# (configs/demo/bmn_thumos_demo.py), the CAR head and the supplement's RRM
# and scoring (configs/rcl_bmn_thumos.py) at a quarter of its channels,
# pooled by 2 like the full model, 3 iterations; data and schedule:
# configs/_base_/demo_thumos.py.
_base_ = ['../_base_/models/rcl_bmn_400x100.py', '../_base_/demo_thumos.py']

model = dict(
    backbone=dict(
        feat_dim=64,
        temporal_dim=128,
        duration_dim=32,
        num_samples=8,
        hidden_dim_1d=64,
        hidden_dim_3d=64),
    head=dict(in_channels=64, hidden_channels=32, mlp_channels=16),
    neck=dict(
        in_channels=32,
        hdim=16,
        cdim=8,
        encoder_channels=(24, 16, 8, 20),
        head_channels=32,
        stride=2,
        iters=3),
    train_cfg=dict(sampler=dict(num_random=64, num_jitter=4)),
    test_cfg=dict(window_top_k=50))

work_dir = './work_dirs/rcl_bmn_thumos_demo'
