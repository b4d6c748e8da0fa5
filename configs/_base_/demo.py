# What every demo config shares: the demo data (real ActivityNet segments,
# synthetic features that tools/data/synthesize.py writes to
# data/demo/features) and a 6-epoch schedule that takes minutes on 2 CPU
# cores. A demo config adds its model base and its model changes.
_base_ = [
    'datasets/anet_feature.py', 'schedules/adam_9e.py', 'default_runtime.py'
]
data_root = 'data/demo/features/csv_mean_100/'
ann_root = 'data/demo/features/'

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
