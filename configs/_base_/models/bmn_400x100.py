# BMN as in the paper and mmaction2's bmn_400x100 (weight compatible).
model = dict(
    type='ProposalMapLocalizer',
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
    head=dict(type='PEMHead', in_channels=512, hidden_channels=128),
    loss=dict(
        type='ProposalMapLoss',
        weight_tem=1.0,
        weight_pem_reg=10.0,
        weight_pem_cls=1.0,
        reg_high_threshold=0.7,
        reg_low_threshold=0.3,
        cls_threshold=0.9),
    test_cfg=dict(
        soft_nms_alpha=0.4,
        soft_nms_low_threshold=0.5,
        soft_nms_high_threshold=0.9,
        top_k=100,
        feature_extraction_interval=16,
        # 'auto': 'triton' on CUDA (the whole Soft-NMS loop as one kernel)
        # where Triton is installed, else 'torch'; the same detections. A
        # dict builds a pick loop from TASK_UTILS (TorchSoftNMSPicks, ...).
        soft_nms_impl='auto'))
