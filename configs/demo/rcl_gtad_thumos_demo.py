# RCL-G-TAD on the THUMOS-like demo: configs/demo/rcl_bmn_thumos_demo.py
# with the small G-TAD backbone of configs/demo/gtad_thumos_demo.py.
_base_ = ['./rcl_bmn_thumos_demo.py']
work_dir = './work_dirs/rcl_gtad_thumos_demo'

model = dict(
    backbone=dict(
        _delete_=True,
        type='GTADBackbone',
        feat_dim=64,
        temporal_dim=128,
        duration_dim=32,
        hidden_dim_1d=64,
        hidden_dim_3d=64,
        k=3,
        groups=16,
        width_group=4,
        boundary_ratio=0.5,
        context_ratio=0.5,
        num_samples=8,
        num_context_samples=8,
        num_samples_per_bin=None))
