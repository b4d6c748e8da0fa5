# BMN on real ActivityNet v1.3 features (CUHK TSN csv_mean_100, 400-d,
# T = D = 100), the paper's setting. Set the data paths with
# --cfg-options, see docs/data_preparation.md.
_base_ = [
    '_base_/models/bmn_400x100.py', '_base_/datasets/anet_feature.py',
    '_base_/schedules/adam_9e.py', '_base_/default_runtime.py'
]
work_dir = './work_dirs/bmn_anet'

# The real BSN annotation files hold 12 zero-length segments (3 in
# validation); drop them, each reported as a warning, rather than fail.
train_dataloader = dict(dataset=dict(invalid_instances='drop'))
val_dataloader = dict(dataset=dict(invalid_instances='drop'))
test_dataloader = val_dataloader
