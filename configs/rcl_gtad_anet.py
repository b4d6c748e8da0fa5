# RCL on G-TAD (arXiv 2203.07112) on real ActivityNet v1.3 features (CUHK
# TSN csv_mean_100, 400-d, T = D = 100): configs/rcl_bmn_anet.py (CAR head,
# scale-invariant sampling, the supplement's RRM, losses, BMN's schedule,
# the supplement's scoring: reg x cls of every anchor, G-TAD's own score,
# then BMN's Soft-NMS) with G-TAD's backbone (GCNeXt + SGAlign, as
# configs/_base_/models/gtad_400x100.py) in place of BMN's: "we use the
# improved feature in our RCL framework; other settings are maintained the
# same as those for BMN" (supplement). The backbone samples as G-TAD's
# code does (adaptive SGAlign points); a fixed count
# (num_samples_per_bin) is not used, see docs/gtad.md.
_base_ = ['./rcl_bmn_anet.py']
work_dir = './work_dirs/rcl_gtad_anet'

model = dict(
    backbone=dict(
        _delete_=True,
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
        num_samples_per_bin=None))
