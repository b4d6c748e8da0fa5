# Copyright (c) rcl_mm contributors. All rights reserved.
"""What the benchmark measures: parts, models, settings and targets.

Standard library only: the command line reads these without torch.
"""
import os.path as osp
import sys

_PACKAGE = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# The repository root: configs and the shipped ground truth are read from
# it, and every worker runs in it. An installed package has its configs
# and tools under rcl_mm/.mim (setup.py, as OpenMMLab packages do).
ROOT = osp.dirname(_PACKAGE)
if not osp.isdir(osp.join(ROOT, 'configs')):
    ROOT = osp.join(_PACKAGE, '.mim')
GIB = 1024**3

PARTS = ('train', 'pair', 'infer', 'post', 'op', 'eval', 'demo', 'extract')
# The pairs of the ``pair`` part: (base, RCL model).
PAIRS = (('bmn', 'rcl_bmn'), ('bmn', 'rcl_bmn_light'), ('gtad', 'rcl_gtad'))
MODELS = ('mmaction2', 'bmn', 'rcl_bmn', 'rcl_bmn_light', 'gtad', 'rcl_gtad')
# Configs of our models; the setting overrides T, D and the input width.
CONFIGS = dict(
    bmn='configs/bmn_anet.py',
    rcl_bmn='configs/rcl_bmn_anet.py',
    rcl_bmn_light='configs/rcl_bmn_anet_light_rrm.py',
    gtad='configs/gtad_anet.py',
    rcl_gtad='configs/rcl_gtad_anet.py')
DEMO_CONFIGS = {
    m: f'configs/demo/{m}_demo.py'
    for m in ('bmn', 'rcl_bmn', 'gtad', 'rcl_gtad')
}
# The ``extract`` part's extractor configs by device type (random
# weights): the tiny test extractor everywhere, and on CUDA also the TSN
# ResNet-50 that writes 2048-d features (too slow to time on a CPU).
EXTRACT_CONFIGS = dict(
    cpu=('configs/feature_extraction/tiny_r18_1stage_test.py', ),
    cuda=('configs/feature_extraction/tiny_r18_1stage_test.py',
          'configs/feature_extraction/tsn_r50_rgb.py'))
# Soft-NMS as each dataset's BMN / G-TAD setting uses it.
SETTINGS = dict(
    anet=dict(temporal_dim=100, duration_dim=100, feat_dim=400,
              soft_nms_alpha=0.4, soft_nms_low_threshold=0.5,
              soft_nms_high_threshold=0.9, top_k=100),
    # THUMOS14 as configs/*_thumos.py: windows of 256 snippets (5 frames
    # at 30 fps) every 128, the 100 best candidates of each window, then
    # Soft-NMS over the merged windows of a video (thresholds 0: every
    # overlap decays). Nine windows make a 213 s video.
    thumos=dict(temporal_dim=256, duration_dim=64, feat_dim=2048,
                soft_nms_alpha=0.3, soft_nms_low_threshold=0.0,
                soft_nms_high_threshold=0.0, top_k=200, window_top_k=100,
                window_stride=128, snippet_seconds=5 / 30,
                windows_per_video=9))
# --tiny: seconds instead of minutes, for tests of the suite itself.
TINY = dict(anet=dict(temporal_dim=16, duration_dim=16, feat_dim=32),
            thumos=dict(temporal_dim=24, duration_dim=8, feat_dim=48,
                        window_stride=12, windows_per_video=3))
# The official ActivityNet ground truth, shipped with the repository
# (data/annotations/README.md).
DEFAULT_GT = osp.join(ROOT, 'data', 'annotations', 'activitynet',
                      'activity_net_v1-3_gt.json')

# Targets: (name, setting, device type, model, quantity, bound, how).
# 'max': value <= bound; 'min': value >= bound.
TARGETS = (
    ('step vs mmaction2 >= 10x', 'anet', 'cpu', 'bmn',
     'train_speedup_vs_mmaction2', 10.0, 'min'),
    ('peak memory <= 1/5 of mmaction2', 'anet', 'cpu', 'bmn',
     'peak_ratio_vs_mmaction2', 0.2, 'max'),
    ('step <= 1.3x our BMN', 'anet', 'cpu', 'rcl_bmn_light',
     'train_ratio_vs_bmn', 1.3, 'max'),
    ('step <= 1.3x our BMN', 'thumos', 'cpu', 'rcl_bmn_light',
     'train_ratio_vs_bmn', 1.3, 'max'),
    ('step <= 5 ms', 'anet', 'cuda', 'bmn', 'train_step_s', 0.005, 'max'),
    ('step <= 7 ms', 'anet', 'cuda', 'rcl_bmn', 'train_step_s', 0.007,
     'max'),
    ('1 video incl. post <= 3 ms', 'anet', 'cuda', 'bmn',
     'predict_one_video_s', 0.003, 'max'),
    ('1 video incl. post <= 3 ms', 'anet', 'cuda', 'rcl_bmn',
     'predict_one_video_s', 0.003, 'max'),
)
# Candidate selection + Soft-NMS, worst case over the map kinds, batch 1.
POST_TARGET = ('post <= 20 ms/video', 'anet', 'cpu', 20.0)


def setting_params(args, setting: str) -> dict:
    """T, D, width and Soft-NMS of a setting after --tiny and overrides.

    Args:
        args (argparse.Namespace): The options (``tiny``, ``temporal_dim``,
            ``duration_dim``, ``feat_dim``).
        setting (str): A key of :data:`SETTINGS`.

    Returns:
        dict: A copy of ``SETTINGS[setting]``, updated.
    """
    params = dict(SETTINGS[setting])
    if args.tiny:
        params.update(TINY[setting])
    for key in ('temporal_dim', 'duration_dim', 'feat_dim'):
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)
    if params['duration_dim'] > params['temporal_dim']:
        sys.exit(f'setting {setting}: D = {params["duration_dim"]} > '
                 f'T = {params["temporal_dim"]}; lower --duration-dim')
    return params
