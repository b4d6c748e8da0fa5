# G-TAD on the demo data (real ActivityNet segments, synthetic features)
# that tools/data/synthesize.py writes to data/demo/features. Smaller than
# G-TAD's model (128-d GCNeXt of 16 x 4 groups, 16 + 4 bins, 128-d map) so
# that 6 epochs of training and the test take minutes on 2 CPU cores; the
# data and schedule are configs/demo/bmn_demo.py's.
_base_ = [
    '../_base_/models/gtad_400x100.py',
    '../_base_/datasets/anet_feature.py', '../_base_/schedules/adam_9e.py',
    '../_base_/default_runtime.py'
]
data_root = 'data/demo/features/csv_mean_100/'
ann_root = 'data/demo/features/'

model = dict(
    backbone=dict(
        hidden_dim_1d=128,
        hidden_dim_3d=128,
        groups=16,
        width_group=4,
        num_samples=16,
        num_context_samples=4),
    head=dict(in_channels=128, hidden_channels=64))

max_epochs = 6
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[5], gamma=0.1)
]
optim_wrapper = dict(optimizer=dict(lr=0.002))

train_dataloader = dict(
    num_workers=1,
    dataset=dict(
        ann_file=ann_root + 'anet_anno_train.json',
        data_prefix=dict(video=data_root)))
val_dataloader = dict(
    num_workers=1,
    dataset=dict(
        ann_file=ann_root + 'anet_anno_val.json',
        data_prefix=dict(video=data_root)))
test_dataloader = val_dataloader
default_hooks = dict(checkpoint=dict(save_best=None, max_keep_ckpts=1))
randomness = dict(seed=0)
work_dir = './work_dirs/gtad_demo'
