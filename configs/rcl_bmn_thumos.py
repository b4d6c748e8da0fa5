# RCL-BMN on THUMOS14 features (2048-d, one snippet every 5 frames) in
# sliding windows of T = 256 snippets with D = 64 durations: the CAR head,
# scale-invariant sampling, RRM (the supplement's) and scoring (every
# anchor, reg x cls) of configs/rcl_bmn_anet.py, BMN's schedule; the windows of each video are merged before Soft-NMS (alpha
# 0.3, top 200), fused with UntrimmedNet top-2 class scores and evaluated
# with THUMOS14 mAP@0.3:0.1:0.7. Data: docs/thumos.md.
_base_ = [
    '_base_/models/rcl_bmn_400x100.py', '_base_/datasets/thumos_feature.py',
    '_base_/schedules/adam_9e.py', '_base_/default_runtime.py'
]
work_dir = './work_dirs/rcl_bmn_thumos'

model = dict(
    backbone=dict(feat_dim=2048, temporal_dim=256, duration_dim=64),
    test_cfg=dict(window_top_k=100))
