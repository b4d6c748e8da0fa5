# G-TAD on the THUMOS-like demo: a small G-TAD (64-d GCNeXt of 16 x 4
# groups, 8 + 8 bins) on windows of 128 snippets with 32 durations, with
# G-TAD's THUMOS14 settings otherwise (configs/_base_/models/
# gtad_thumos14.py: 3x3 head, loss reg + 10 x cls with the count offset,
# per-window Soft_NMS; here: clipping and the merged Soft_NMS); data and
# schedule: configs/_base_/demo_thumos.py.
_base_ = ['../_base_/models/gtad_thumos14.py', '../_base_/demo_thumos.py']

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
        num_context_samples=8),
    head=dict(in_channels=64, hidden_channels=32))
optim_wrapper = dict(clip_grad=dict(max_norm=1, norm_type=2))
val_evaluator = dict(
    merge_windows=dict(rule='gtad', soft_nms_alpha=0.46, top_k=200))
test_evaluator = val_evaluator

work_dir = './work_dirs/gtad_thumos_demo'
