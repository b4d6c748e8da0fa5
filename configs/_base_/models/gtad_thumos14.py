# G-TAD with the authors' THUMOS14 model settings (github frostinassiky/gtad,
# branch master; docs/gtad.md gives each with its file and line), shared by
# configs/gtad_thumos.py and the THUMOS-like demo, which set the sizes:
# 3x3 head convs; loss = TEM + reg + 10 x cls with 10 added to the
# classification counts; every anchor of a window scored cls x reg,
# Soft_NMS (exp(-IoU^2 / 0.46), 200) per window without proposals of 300
# frames (60 snippets at 5 frames per snippet) or more.
_base_ = ['gtad_400x100.py']

model = dict(
    head=dict(kernel_size=3),
    loss=dict(weight_pem_reg=1.0, weight_pem_cls=10.0, cls_count_offset=10),
    test_cfg=dict(
        post_processing='gtad',
        soft_nms_alpha=0.46,
        top_k=200,
        window_top_k=200,
        max_proposal_snippets=60))
