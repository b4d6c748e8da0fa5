# RCL-BMN on the demo data (real ActivityNet segments, synthetic features)
# that tools/data/synthesize.py writes to data/demo/features: the demo
# BMN's small backbone (configs/demo/bmn_demo.py), the shared demo data
# and schedule (configs/_base_/demo.py), the CAR head and the supplement's
# RRM and scoring (configs/rcl_bmn_anet.py) at half its channels, as the
# rest of the demo model, on the map pooled by 2 like the full model, with
# 5 iterations, so that training and testing take minutes on 2 CPU cores.
# The light RRM on the demo: the ablation's rcl_light (docs/ablation.md).
_base_ = ['../_base_/models/rcl_bmn_400x100.py', '../_base_/demo.py']

model = dict(
    backbone=dict(num_samples=16, hidden_dim_1d=128, hidden_dim_3d=128),
    head=dict(in_channels=128, hidden_channels=64, mlp_channels=32),
    neck=dict(
        in_channels=64,
        hdim=32,
        cdim=16,
        encoder_channels=(48, 32, 16, 40),
        head_channels=64,
        stride=2,
        iters=5),
    train_cfg=dict(sampler=dict(num_random=128, num_jitter=4)))

work_dir = './work_dirs/rcl_bmn_demo'
