# G-TAD on real ActivityNet v1.3 features (CUHK TSN csv_mean_100, 400-d,
# T = D = 100), the authors' setting (branch anet, gtad_lib/opts.py and
# gtad_train.py): Adam, lr 4e-3, weight decay 1e-4, batch 16 (2 GPUs x 8),
# 10 epochs, lr x 0.1 after epoch 5, no gradient clipping (commented out in
# gtad_train.py). Set the data paths with --cfg-options, see
# docs/data_preparation.md; docs/gtad.md lists every setting.
_base_ = [
    '_base_/models/gtad_400x100.py', '_base_/datasets/anet_feature.py',
    '_base_/schedules/adam_9e.py', '_base_/default_runtime.py'
]
work_dir = './work_dirs/gtad_anet'

max_epochs = 10
train_cfg = dict(max_epochs=max_epochs)
optim_wrapper = dict(
    optimizer=dict(type='Adam', lr=0.004, weight_decay=0.0001),
    clip_grad=None)
param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[5],
        gamma=0.1)
]
auto_scale_lr = dict(enable=False, base_batch_size=16)

# As configs/bmn_anet.py: drop the 12 zero-length segments of the real
# annotation files, each reported as a warning.
train_dataloader = dict(dataset=dict(invalid_instances='drop'))
val_dataloader = dict(dataset=dict(invalid_instances='drop'))
test_dataloader = val_dataloader
