# G-TAD on the demo data (real ActivityNet segments, synthetic features)
# that tools/data/synthesize.py writes to data/demo/features. Smaller than
# G-TAD's model (128-d GCNeXt of 16 x 4 groups, 16 + 4 bins, 128-d map) so
# that 6 epochs of training and the test take minutes on 2 CPU cores; the
# data and schedule are configs/_base_/demo.py, without gradient clipping
# (G-TAD's ActivityNet setting). Every other setting is configs/gtad_anet.py's
# (adaptive SGAlign points, 1x1 head convs, G-TAD's post-processing).
_base_ = ['../_base_/models/gtad_400x100.py', '../_base_/demo.py']

model = dict(
    backbone=dict(
        hidden_dim_1d=128,
        hidden_dim_3d=128,
        groups=16,
        width_group=4,
        num_samples=16,
        num_context_samples=4),
    head=dict(in_channels=128, hidden_channels=64))

optim_wrapper = dict(clip_grad=None)

work_dir = './work_dirs/gtad_demo'
