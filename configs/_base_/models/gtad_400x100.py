# G-TAD (arXiv 1911.11462) at the ActivityNet setting: 400-d features,
# T = D = 100. GCNeXt blocks (k = 3 neighbours, self included, 32 groups),
# SGAlign with 32 inner + 4 context bins over each anchor widened by half
# its length on each side, G-TAD's 1x1 projection to 512 channels, then
# its 2-D head (PEMHead: 1x1, 3x3, 3x3, 1x1).
model = dict(
    type='ProposalMapLocalizer',
    backbone=dict(
        type='GTADBackbone',
        feat_dim=400,
        temporal_dim=100,
        duration_dim=100,
        hidden_dim_1d=256,
        hidden_dim_3d=512,
        k=3,
        groups=32,
        width_group=4,
        boundary_ratio=0.5,
        context_ratio=0.5,
        num_samples=32,
        num_context_samples=4,
        num_samples_per_bin=3),
    head=dict(type='PEMHead', in_channels=512, hidden_channels=128),
    # G-TAD's losses are BMN's (TEM + 10 x tIoU regression + tIoU
    # classification) with eps = 1e-6 and no clamp on the balancing ratio;
    # (1.05, 1e8) only guards the all-positive case.
    loss=dict(
        type='ProposalMapLoss',
        weight_tem=1.0,
        weight_pem_reg=10.0,
        weight_pem_cls=1.0,
        reg_high_threshold=0.7,
        reg_low_threshold=0.3,
        cls_threshold=0.9,
        ratio_range=(1.05, 1e8),
        eps=1e-6),
    test_cfg=dict(
        soft_nms_alpha=0.4,
        soft_nms_low_threshold=0.5,
        soft_nms_high_threshold=0.9,
        top_k=100,
        feature_extraction_interval=16,
        # 'torch', or 'triton' (CUDA): the whole Soft-NMS loop as one
        # kernel, the same detections.
        soft_nms_impl='torch'))
