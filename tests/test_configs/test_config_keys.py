# Copyright (c) rcl_mm contributors. All rights reserved.
"""Config keys mmengine would ignore: every config passes, typos fail."""
import glob
import os.path as osp
import re

import pytest
from mmengine.config import Config

from rcl_mm.utils.config_check import (KNOWN_TOP_LEVEL, ConfigKeyError,
                                       check_cfg_options,
                                       check_component_keys,
                                       check_config_keys, check_dict_keys,
                                       class_arguments)
from rcl_mm.utils.launch import prepare_config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# Every config, _base_ and demo included: new ones are covered as added.
CONFIGS = sorted(
    osp.relpath(f, ROOT)
    for f in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                       recursive=True)
    # Recognizers of mmaction2, checked by rcl_mm.apis.feature_extraction
    # (tests/test_configs/test_extractor_configs.py).
    if 'feature_extraction' not in f)


def test_configs_found():
    assert 'configs/rcl_bmn_anet.py' in CONFIGS
    assert 'configs/_base_/default_runtime.py' in CONFIGS
    assert 'configs/demo/bmn_demo.py' in CONFIGS


@pytest.mark.parametrize('config', CONFIGS)
def test_every_config_passes(config):
    cfg = Config.fromfile(osp.join(ROOT, config))
    check_config_keys(cfg, config)
    check_component_keys(cfg, config)


def write(tmp_path, text, base='configs/demo/rcl_bmn_demo.py'):
    path = tmp_path / 'typo.py'
    path.write_text(f'_base_ = [{osp.join(ROOT, base)!r}]\n' + text)
    return str(path)


@pytest.mark.parametrize('typo,fix', [
    ('optim_wraper', 'optim_wrapper'),
    ('trian_dataloader', 'train_dataloader'),
    ('val_evalutor', 'val_evaluator'),
    ('load_form', 'load_from'),
    ('custom_import', 'custom_imports'),
])
def test_top_level_typo(tmp_path, typo, fix):
    path = write(tmp_path, f'{typo} = dict()\n')
    with pytest.raises(ConfigKeyError) as e:
        prepare_config(path)
    assert str(e.value) == (
        f'{path}: unknown top-level key {typo!r}; did you mean {fix!r}? '
        'mmengine would ignore it silently.')


def test_helper_variables_pass(tmp_path):
    # Far from every Runner key: a helper variable, not a typo.
    path = write(tmp_path, 'clip_len = 3\nmy_pipeline = []\n')
    cfg = prepare_config(path, work_dir=str(tmp_path / 'w'))
    assert cfg.clip_len == 3
    assert 'clip_len' not in KNOWN_TOP_LEVEL


def test_typo_from_cfg_options(tmp_path):
    # Named as the command-line option, not as the config file.
    with pytest.raises(ConfigKeyError, match=r"no key 'param_schedulers' "
                       r"\(--cfg-options param_schedulers\): did you mean "
                       "'param_scheduler'"):
        prepare_config(osp.join(ROOT, 'configs/demo/bmn_demo.py'),
                       cfg_options={'param_schedulers': []})


def test_localizer_test_cfg_key(tmp_path):
    path = write(tmp_path, 'model = dict(test_cfg=dict(top_kk=10))\n')
    with pytest.raises(ConfigKeyError) as e:
        prepare_config(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: unknown key 'top_kk' in model.test_cfg "
                          "(RCLLocalizer); did you mean 'top_k'? Allowed: [")
    assert "'anchors'" in msg and "'soft_nms_alpha'" in msg


def test_localizer_train_cfg_key(tmp_path):
    path = write(tmp_path, 'model = dict(train_cfg=dict(sampeler=None))\n')
    with pytest.raises(ConfigKeyError) as e:
        prepare_config(path)
    assert str(e.value) == (
        f"{path}: unknown key 'sampeler' in model.train_cfg (RCLLocalizer);"
        " did you mean 'sampler'? Allowed: ['sampler'].")


def test_refiner_key_names_the_neck(tmp_path):
    """The RRM is RCL's neck: a config (or option) still saying
    ``refiner`` is refused, in one line, with the new name."""
    path = write(tmp_path, 'model = dict(refiner=dict(iters=2))\n')
    with pytest.raises(ConfigKeyError) as e:
        prepare_config(path)
    assert str(e.value) == (
        f'{path}: model.refiner of RCLLocalizer is now model.neck; rename '
        'refiner= to neck= (and model.refiner.* options to model.neck.*).')
    with pytest.raises(ConfigKeyError) as e:
        prepare_config(osp.join(ROOT, 'configs/demo/rcl_bmn_demo.py'),
                       cfg_options={'model.refiner.iters': 2})
    assert str(e.value).startswith(
        '--cfg-options model.refiner.iters: model.refiner of RCLLocalizer '
        'is now model.neck;')
    # The new name passes.
    cfg = prepare_config(osp.join(ROOT, 'configs/demo/rcl_bmn_demo.py'),
                         cfg_options={'model.neck.iters': 2},
                         work_dir=str(tmp_path / 'w'))
    assert cfg.model.neck.iters == 2


def test_tad_metric_class_scores_key(tmp_path):
    path = write(
        tmp_path, "val_evaluator = dict(class_scores=dict(file='x.json', "
        'topk=2))\n')
    with pytest.raises(ConfigKeyError) as e:
        prepare_config(path)
    assert str(e.value) == (
        f"{path}: unknown key 'topk' in val_evaluator.class_scores; did "
        "you mean 'top_k'? Allowed: ['file', 'format', 'top_k'].")


def test_tad_metric_class_scores_key_at_build():
    # Also without the tools: the metric refuses it when built.
    from rcl_mm.evaluation.metrics.tad_metric import TADMetric
    with pytest.raises(KeyError, match=r"unknown class_scores keys "
                       r"\['topk'\]"):
        TADMetric(class_scores=dict(file='x.json', topk=2))


def test_check_dict_keys_without_close_match():
    with pytest.raises(ConfigKeyError) as e:
        check_dict_keys({'zzz': 1}, ('file', 'top_k'), 'where', 'f.py')
    assert str(e.value) == ("f.py: unknown key 'zzz' in where. Allowed: "
                            "['file', 'top_k'].")
    check_dict_keys(None, ('file', ), 'where', 'f.py')
    check_dict_keys({'file': 1}, ('file', ), 'where', 'f.py')


def test_tools_train_reports_typo(tmp_path):
    import subprocess
    import sys
    path = write(tmp_path, 'optim_wraper = dict()\n',
                 base='configs/demo/bmn_demo.py')
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', path, '--work-dir',
         str(tmp_path / 'w')], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0
    assert f"{path}: unknown top-level key 'optim_wraper'; did you mean " \
        "'optim_wrapper'?" in proc.stderr


@pytest.mark.parametrize('key', [
    'model.backbone.init_cfg',  # an argument the config leaves out
    'train_cfg.dynamic_intervals', 'optim_wrapper.accumulative_counts',
    'default_hooks.checkpoint.save_last',
    'default_hooks.checkpoint.meta',  # CheckpointHook's **kwargs
    'train_dataloader.drop_last',
    'train_dataloader.dataset.pipeline.0.min_snippets',
    'model.test_cfg.top_k', 'load_from', 'val_evaluator.dump',
])
def test_cfg_options_that_are_new_but_valid(key):
    cfg = Config.fromfile(osp.join(ROOT, 'configs/demo/bmn_demo.py'))
    check_cfg_options(cfg, {key: None})


@pytest.mark.parametrize('key,fix', [
    ('modle.test_cfg.top_k', "'model'"),
    ('test_dataloder.batch_size', "'test_dataloader'"),
    ('train_dataloader.batchsize', "'train_dataloader.batch_size'"),
    ('model.backbone.hidden_dim_3e', "'model.backbone.hidden_dim_3d'"),
    ('model.backbone.foo', ''),  # BMNBackbone takes no **kwargs
    ('train_dataloader.dataset.pipeline.0.min_snipets',
     "'train_dataloader.dataset.pipeline.0.min_snippets'"),
    ('train_cfg.val_begn', "'train_cfg.val_begin'"),
    ('optim_wrapper.clip_gard', "'optim_wrapper.clip_grad'"),
    ('default_hooks.checkpoint.intervl',
     "'default_hooks.checkpoint.interval'"),
    ('param_scheduler.3.gamma', 'use an index 0..0'),
])
def test_cfg_options_typos(key, fix):
    cfg = Config.fromfile(osp.join(ROOT, 'configs/demo/bmn_demo.py'))
    with pytest.raises(ConfigKeyError) as e:
        check_cfg_options(cfg, {key: 1})
    assert f'(--cfg-options {key})' in str(e.value)
    assert fix in str(e.value)


def test_hook_argument_typo_in_the_file(tmp_path):
    path = write(tmp_path, 'default_hooks = dict(checkpoint=dict('
                 'intervl=2))\n', base='configs/demo/bmn_demo.py')
    with pytest.raises(ConfigKeyError) as e:
        prepare_config(path)
    assert str(e.value).startswith(
        "CheckpointHook takes no argument 'intervl' "
        f"({path}: default_hooks.checkpoint.intervl): did you mean "
        "'interval'?")


def test_class_arguments_follow_kwargs_up_the_mro():
    from mmengine.hooks import CheckpointHook
    from mmengine.optim.scheduler import MultiStepLR
    names, is_open = class_arguments(MultiStepLR)
    assert is_open is False
    assert {'milestones', 'gamma', 'begin', 'end', 'by_epoch'} <= set(names)
    names, is_open = class_arguments(CheckpointHook)
    assert is_open is True and 'interval' in names


def test_cfg_options_retype_a_component():
    """Options under a retyped component are checked against its new type
    (mmengine's AMP idiom), and a typo there is still refused."""
    cfg = Config.fromfile(osp.join(ROOT, 'configs/demo/rcl_bmn_demo.py'))
    amp = {'optim_wrapper.type': 'AmpOptimWrapper',
           'optim_wrapper.dtype': 'bfloat16'}
    check_cfg_options(cfg, amp)
    assert 'type' not in cfg.optim_wrapper  # the loaded config is unchanged
    with pytest.raises(ConfigKeyError, match="'optim_wrapper.dtype'"):
        check_cfg_options(cfg, {'optim_wrapper.type': 'AmpOptimWrapper',
                                'optim_wrapper.dtpye': 'bfloat16'})
    with pytest.raises(ConfigKeyError, match='optim_wrapper.dtype'):
        check_cfg_options(cfg, {'optim_wrapper.dtype': 'bfloat16'})


def test_cuda_check_options_pass_the_check():
    """The options tools/analysis/cuda_check.sh trains with are accepted by
    tools/train.py's check (a refused option costs a GPU run)."""
    with open(osp.join(ROOT, 'tools/analysis/cuda_check.sh')) as f:
        script = f.read()
    config = re.search(r'CONFIG:-([^}]+)}', script).group(1)
    options = {}
    for name in ('TRAIN_OPTIONS', 'BF16'):
        items = re.search(name + r'=\(([^)]*)\)', script).group(1).split()
        assert items, name
        options.update(item.split('=', 1) for item in items)
    assert options['optim_wrapper.type'] == 'AmpOptimWrapper'
    cfg = Config.fromfile(osp.join(ROOT, config))
    check_cfg_options(cfg, options)
