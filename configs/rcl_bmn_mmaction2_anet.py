# RCL added to mmaction2's own BMN config (its data pipeline, schedule and
# runtime, unchanged): only the model is replaced, and the backbone and
# the head's 2-D convs start from an mmaction2 BMN checkpoint converted by
#   python tools/convert/mmaction2_bmn.py BMN.pth \
#       checkpoints/bmn_400x100_rcl_mm.pth
# See docs/rcl.md, "Adding RCL to an mmaction2 localizer config".
_base_ = [
    'mmaction::localization/bmn/bmn_2xb8-400x100-9e_activitynet-feature.py'
]
custom_imports = dict(imports=['rcl_mm'], allow_failed_imports=False)
# rcl_mm's scope finds our types first and mmaction2's through the parent
# registries; in mmaction2's scope write type='rcl_mm.RCLLocalizer'.
default_scope = 'rcl_mm'
model = dict(
    _delete_=True,
    type='rcl_mm.RCLLocalizer',
    # mmaction2's BMN arguments (temporal_dim, num_samples, ...) map onto
    # BMNBackbone; hidden_dim_2d is the head's hidden_channels.
    backbone=dict(
        type='BMNBackbone',
        feat_dim=400,
        temporal_dim=100,
        boundary_ratio=0.5,
        num_samples=32,
        num_samples_per_bin=3,
        hidden_dim_1d=256,
        hidden_dim_3d=512),
    head=dict(
        type='RCLHead', in_channels=512, hidden_channels=128,
        mlp_channels=64, mode='nearest'),
    # The supplement's RRM (RAFT's SmallUpdateBlock) on the map pooled by
    # 2, as configs/rcl_bmn_anet.py; update_block='light' with stride=6
    # and head_channels=16 is the cheaper one (docs/rcl.md).
    neck=dict(
        type='RRMRefiner', update_block='raft_small', in_channels=128,
        hdim=64, cdim=32, encoder_channels=(96, 64, 32, 80),
        head_channels=128, stride=2, iters=10, gamma=0.8),
    loss=dict(type='RCLLoss'),
    train_cfg=dict(
        sampler=dict(num_random=256, num_jitter=8, min_duration=1.0,
                     jitter_ratio=0.25)),
    test_cfg=dict(
        anchors='grid',
        # The supplement's: every cell a candidate, scored reg x cls.
        scoring='supplement',
        soft_nms_alpha=0.4,
        soft_nms_low_threshold=0.5,
        soft_nms_high_threshold=0.9,
        top_k=100),
    # The RCL parts are new, so the converted BMN checkpoint lacks them;
    # they start with zero output (the model's map is BMN's). Any other
    # missing, unexpected or misshapen key still stops the loading.
    allow_missing_keys=['head.car.', 'neck.'])
load_from = 'checkpoints/bmn_400x100_rcl_mm.pth'
work_dir = './work_dirs/rcl_bmn_mmaction2_anet'
# mmaction2's ANetMetric: results into this run's work dir (the base's
# path names mmaction2's work dir), metric names prefixed.
val_evaluator = dict(
    prefix='activitynet', dump_config=dict(out=f'{work_dir}/results.json'))
test_evaluator = val_evaluator
# Atomic checkpoint writes and loading mmengine checkpoints under
# torch >= 2.6, as in our configs (docs/getting_started.md).
custom_hooks = [dict(type='StackFixesHook')]
