# RCL-BMN on the demo data (real ActivityNet segments, synthetic features)
# that tools/data/synthesize.py writes to data/demo/features: the demo
# BMN's small backbone, data and schedule (configs/demo/bmn_demo.py), the
# CAR head and a small RRM, so that training and testing take minutes on
# 2 CPU cores.
_base_ = [
    '../_base_/models/rcl_bmn_400x100.py',
    '../_base_/datasets/anet_feature.py', '../_base_/schedules/adam_9e.py',
    '../_base_/default_runtime.py'
]
data_root = 'data/demo/features/csv_mean_100/'
ann_root = 'data/demo/features/'

model = dict(
    backbone=dict(num_samples=16, hidden_dim_1d=128, hidden_dim_3d=128),
    head=dict(in_channels=128, hidden_channels=64, mlp_channels=32),
    refiner=dict(
        in_channels=64,
        hdim=32,
        cdim=16,
        map_channels=8,
        feat_channels=8,
        head_channels=16,
        stride=5,
        iters=5),
    train_cfg=dict(sampler=dict(num_random=128, num_jitter=4)))

# As configs/demo/bmn_demo.py.
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
work_dir = './work_dirs/rcl_bmn_demo'
