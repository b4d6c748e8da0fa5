# G-TAD on THUMOS14 features (2048-d, one snippet every 5 frames) in
# sliding windows of T = 256 snippets, D = 64 durations, G-TAD's THUMOS
# setting (gtad_lib/opts.py): Adam, lr 4e-5, weight decay 1e-4, batch 8,
# 10 epochs, lr x 0.1 after epoch 5. Windows merged per video before
# Soft-NMS (alpha 0.3, top 200), UntrimmedNet top-2 fusion, THUMOS14
# mAP@0.3:0.1:0.7. Data: docs/thumos.md.
_base_ = [
    '_base_/models/gtad_400x100.py', '_base_/datasets/thumos_feature.py',
    '_base_/schedules/adam_9e.py', '_base_/default_runtime.py'
]
work_dir = './work_dirs/gtad_thumos'

model = dict(
    backbone=dict(feat_dim=2048, temporal_dim=256, duration_dim=64),
    test_cfg=dict(window_top_k=100))

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
