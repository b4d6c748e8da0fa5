# RCL on G-TAD on THUMOS14 (2048-d, T = 256 windows, D = 64):
# configs/rcl_bmn_thumos.py (CAR head, scale-invariant sampling, the
# supplement's RRM and scoring (reg x cls, G-TAD's own score), BMN's
# schedule, windowed data and THUMOS evaluation) with G-TAD's
# backbone in place of BMN's, "other settings maintained the same as those
# for BMN" (RCL supplement). The backbone is G-TAD's THUMOS14 one (16 inner
# + 16 context bins, adaptive SGAlign points), see docs/gtad.md.
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
        num_samples=16,
        num_context_samples=16,
        num_samples_per_bin=None))
