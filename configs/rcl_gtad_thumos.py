# RCL on G-TAD on THUMOS14 (2048-d, T = 256 windows, D = 64):
# configs/rcl_bmn_thumos.py (CAR head, scale-invariant sampling, RRM,
# BMN's schedule, windowed data and THUMOS evaluation) with G-TAD's
# backbone in place of BMN's, "other settings maintained the same as those
# for BMN" (RCL supplement).
_base_ = ['./rcl_bmn_thumos.py']
work_dir = './work_dirs/rcl_gtad_thumos'

model = dict(
    backbone=dict(
        _delete_=True,
        type='GTADBackbone',
        feat_dim=2048,
        temporal_dim=256,
        duration_dim=64,
        hidden_dim_1d=256,
        hidden_dim_3d=512,
        k=3,
        groups=32,
        width_group=4,
        boundary_ratio=0.5,
        context_ratio=0.5,
        num_samples=32,
        num_context_samples=4,
        num_samples_per_bin=3))
