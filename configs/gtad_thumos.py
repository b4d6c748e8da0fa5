# G-TAD on THUMOS14 features (2048-d, one snippet every 5 frames) in
# sliding windows of T = 256 snippets, D = 64 durations, the authors'
# THUMOS14 setting (github frostinassiky/gtad, branch master; docs/gtad.md
# lists every setting with its file and line): SGAlign with 16 inner + 16
# context bins (8,192 channels into the first 2-D conv), 3x3 head convs;
# loss = TEM + reg + 10 x cls with 10 added to the classification counts;
# Adam, lr 4e-5, weight decay 1e-4, batch 8, 10 epochs, lr x 0.1 after
# epoch 5, gradient norm clipped at 1. Post-processing: every anchor of a
# window scored cls x reg, Soft_NMS (exp(-IoU^2 / 0.46), 200) per window
# without proposals of 300 frames or more, again over the merged windows of
# a video, top 200; UntrimmedNet top-2 fusion, THUMOS14 mAP@0.3:0.1:0.7.
# Data: docs/thumos.md.
_base_ = [
    '_base_/models/gtad_thumos14.py', '_base_/datasets/thumos_feature.py',
    '_base_/schedules/adam_9e.py', '_base_/default_runtime.py'
]
work_dir = './work_dirs/gtad_thumos'

model = dict(
    backbone=dict(
        feat_dim=2048,
        temporal_dim=256,
        duration_dim=64,
        num_samples=16,
        num_context_samples=16))

max_epochs = 10
train_cfg = dict(max_epochs=max_epochs)
optim_wrapper = dict(
    optimizer=dict(type='Adam', lr=4e-5, weight_decay=0.0001),
    clip_grad=dict(max_norm=1, norm_type=2))
param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[5],
        gamma=0.1)
]
# G-TAD's THUMOS batch: 8 windows (on 2 GPUs, 4 each).
train_dataloader = dict(batch_size=4)
auto_scale_lr = dict(enable=False, base_batch_size=8)

# The merged windows of a video: G-TAD's second Soft_NMS, top 200.
val_evaluator = dict(
    merge_windows=dict(rule='gtad', soft_nms_alpha=0.46, top_k=200))
test_evaluator = val_evaluator
