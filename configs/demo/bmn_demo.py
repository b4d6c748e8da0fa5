# BMN on the demo data (real ActivityNet segments, synthetic features) that
# tools/data/synthesize.py writes to data/demo/features. Smaller than the
# paper's model so that training and testing take minutes on 2 CPU cores.
_base_ = ['../_base_/models/bmn_400x100.py', '../_base_/demo.py']

model = dict(
    backbone=dict(num_samples=16, hidden_dim_1d=128, hidden_dim_3d=128),
    head=dict(in_channels=128, hidden_channels=64))

work_dir = './work_dirs/bmn_demo'
