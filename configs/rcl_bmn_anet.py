# RCL-BMN on real ActivityNet v1.3 features (CUHK TSN csv_mean_100, 400-d,
# T = D = 100), the paper's setting: BMN's schedule, CAR head (nearest),
# scale-invariant sampling, the supplement's RRM (RAFT's SmallUpdateBlock)
# with 10 iterations and its scoring (every anchor, reg x cls; the
# boundary probabilities only regularise training). The light RRM:
# configs/rcl_bmn_anet_light_rrm.py. Set the data paths with
# --cfg-options, see docs/data_preparation.md.
_base_ = [
    '_base_/models/rcl_bmn_400x100.py', '_base_/datasets/anet_feature.py',
    '_base_/schedules/adam_9e.py', '_base_/default_runtime.py'
]
work_dir = './work_dirs/rcl_bmn_anet'

train_dataloader = dict(dataset=dict(invalid_instances='drop'))
val_dataloader = dict(dataset=dict(invalid_instances='drop'))
test_dataloader = val_dataloader
