# G-TAD (arXiv 1911.11462) at the ActivityNet setting, as the authors' code
# (github frostinassiky/gtad, branch anet) builds it: 400-d features,
# T = D = 100. GCNeXt blocks (k = 3 neighbours, self included, 32 groups),
# SGAlign with 32 inner + 4 context bins over each anchor widened by half
# its length on each side, G-TAD's adaptive points per bin (Align1D's
# ceil(region / bins)), the 1x1 projection to 512 channels, then its 2-D
# head with 1x1 kernels (kern_2d = 1, pad_2d = 0). docs/gtad.md lists every
# setting with the authors' file and line.
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
        # None: G-TAD's adaptive count; an integer fixes it (not G-TAD).
        num_samples_per_bin=None),
    head=dict(
        type='PEMHead', in_channels=512, hidden_channels=128, kernel_size=1),
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
    # G-TAD's post-processing: BMN's candidates scored cls x reg, its
    # Soft_NMS (exp(-IoU^2 / 0.8) on every overlapping proposal), top 100.
    test_cfg=dict(post_processing='gtad', soft_nms_alpha=0.8, top_k=100))
