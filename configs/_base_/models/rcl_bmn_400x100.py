# RCL on BMN (arXiv 2203.07112): BMN's backbone, the CAR head in place of
# BMN's PEM and the recurrent refinement module, ANet setting
# (400-d features, T = D = 100). The backbone and the head's convs / out
# keep BMN's names, so mmaction2 BMN checkpoints load into them.
model = dict(
    type='RCLLocalizer',
    backbone=dict(
        type='BMNBackbone',
        feat_dim=400,
        temporal_dim=100,
        duration_dim=100,
        boundary_ratio=0.5,
        num_samples=32,
        num_samples_per_bin=3,
        hidden_dim_1d=256,
        hidden_dim_3d=512,
        # CARAlign's tap sums: 'auto' picks the fastest measured on the
        # device ('dense' on CUDA, 'gather' on the CPU); 'gather', 'dense'
        # or 'triton' force one (docs/benchmark.md). The same outputs.
        car_align_impl='auto'),
    head=dict(
        type='RCLHead',
        in_channels=512,
        hidden_channels=128,
        mlp_channels=64,
        # 'nearest' (the paper's CAR), 'bilinear' or 'exact'.
        mode='nearest'),
    neck=dict(
        type='RRMRefiner',
        # The supplement's RRM: RAFT's SmallUpdateBlock on the map (hdim
        # 64, cdim 32 as its Fig. 4), on the map pooled by 2 (50 x 50
        # cells) and upsampled back; at this resolution the relative FLOPs
        # reproduce the supplement's Table 1 (docs/rcl.md). 'light' is our
        # cheaper block (configs/rcl_bmn_anet_light_rrm.py).
        update_block='raft_small',
        in_channels=128,
        hdim=64,
        cdim=32,
        # RAFT-small's encoder: F branch (1x1), map branch (7x7, 3x3),
        # fusing 3x3 conv; a 3x3 head with 128 hidden channels.
        encoder_channels=(96, 64, 32, 80),
        head_channels=128,
        stride=2,
        iters=10,
        gamma=0.8,
        mixed_precision=False),
    loss=dict(
        type='RCLLoss',
        weight_tem=1.0,
        weight_pem_reg=10.0,
        weight_pem_cls=1.0,
        weight_car_reg=10.0,
        weight_car_cls=1.0,
        reg_high_threshold=0.7,
        reg_low_threshold=0.3,
        cls_threshold=0.9),
    # Scale-invariant training samples; sampler=None trains on the grid
    # only.
    train_cfg=dict(
        sampler=dict(
            num_random=256, num_jitter=8, min_duration=1.0,
            jitter_ratio=0.25)),
    test_cfg=dict(
        # 'grid' (the cells of the refined map) or 'scale_invariant' (the
        # anchor set below).
        anchors='grid',
        # 'supplement': every anchor is a candidate, scored reg x cls of
        # the refined map (G-TAD's score); the boundary probabilities only
        # regularise training, as the RCL supplement has it. 'bmn': BMN's
        # rule, start / end peaks as candidates scored
        # p_start x p_end x reg x cls (docs/rcl.md, docs/ablation.md).
        scoring='supplement',
        num_scales=16,
        min_duration=1.0,
        stride_ratio=0.25,
        soft_nms_alpha=0.4,
        soft_nms_low_threshold=0.5,
        soft_nms_high_threshold=0.9,
        top_k=100,
        feature_extraction_interval=16,
        # 'auto': 'triton' on CUDA (the whole Soft-NMS loop as one kernel)
        # where Triton is installed, else 'torch'; the same detections. A
        # dict builds a pick loop from TASK_UTILS (TorchSoftNMSPicks, ...).
        soft_nms_impl='auto'))
