# BMN on THUMOS14 features (2048-d, one snippet every 5 frames) in sliding
# windows of T = 256 snippets, proposal map of D = 64 durations (the
# G-TAD / RCL THUMOS setting), BMN's schedule (Adam, lr 1e-3, 9 epochs,
# x 0.1 after 7; 2 GPUs x 8 windows). Soft-NMS runs on the merged windows
# of each video in the metric (alpha 0.3, top 200), then UntrimmedNet
# top-2 fusion and THUMOS14 mAP@0.3:0.1:0.7. Data: docs/thumos.md.
_base_ = [
    '_base_/models/bmn_400x100.py', '_base_/datasets/thumos_feature.py',
    '_base_/schedules/adam_9e.py', '_base_/default_runtime.py'
]
work_dir = './work_dirs/bmn_thumos'

model = dict(
    backbone=dict(feat_dim=2048, temporal_dim=256, duration_dim=64),
    # Per window, the 100 best candidates in video seconds; the metric
    # merges the windows of a video before Soft-NMS.
    test_cfg=dict(window_top_k=100))
