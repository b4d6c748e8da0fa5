# RCL-G-TAD on the demo data: configs/demo/rcl_bmn_demo.py (small CAR
# head and RRM, demo data and schedule) with the demo G-TAD backbone of
# configs/demo/gtad_demo.py in place of BMN's.
_base_ = ['./rcl_bmn_demo.py']
work_dir = './work_dirs/rcl_gtad_demo'

model = dict(
    backbone=dict(
        _delete_=True,
        type='GTADBackbone',
        feat_dim=400,
        temporal_dim=100,
        duration_dim=100,
        hidden_dim_1d=128,
        hidden_dim_3d=128,
        k=3,
        groups=16,
        width_group=4,
        boundary_ratio=0.5,
        context_ratio=0.5,
        num_samples=16,
        num_context_samples=4,
        num_samples_per_bin=None))
