# Copyright (c) rcl_mm contributors. All rights reserved.
"""The model zoo: model-index.yml, its metafiles and docs/model_zoo.md.

Every config under configs/ (not _base_) is found by glob, so a new config
fails here until it has a metafile entry and a docs/model_zoo.md row.
"""
import glob
import os.path as osp
import re

import pytest
import torch
import yaml
from mmengine.config import Config
from mmengine.registry import DefaultScope

import rcl_mm  # noqa: F401
from rcl_mm.models.complexity import count_flops, parameter_count
from rcl_mm.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    osp.relpath(p, ROOT)
    for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                       recursive=True)
    if '_base_' not in p
    # Feature extractors (mmaction2's recognizers, their weights from
    # mmaction2's zoo; docs/custom_dataset.md) and templates for the
    # user's own data are no models of ours.
    and 'feature_extraction' not in p and 'configs/custom/' not in p)
# Demo data: real annotations, synthetic features (docs/demo_data.md).
DEMO_DATASETS = ('Synthetic demo (ActivityNet annotations)',
                 'Synthetic demo (THUMOS14 annotations)')
TASK = 'Temporal Action Localization'


def load_yaml(path):
    with open(osp.join(ROOT, path)) as f:
        return yaml.safe_load(f)


def load_metafiles():
    """``{metafile path: parsed metafile}`` in model-index.yml's order."""
    index = load_yaml('model-index.yml')
    assert set(index) == {'Import'}, 'model-index.yml only imports'
    return {path: load_yaml(path) for path in index['Import']}


def all_models():
    """``[(metafile, model dict)]`` over every metafile."""
    return [(path, model) for path, meta in load_metafiles().items()
            for model in meta['Models']]


def weights_name_ok(name, url):
    """Whether ``url`` names a file that tools/publish_model.py wrote for
    model ``name``: ``<name>[_<yyyymmdd>]-<sha256[:8]>.pth``."""
    pattern = rf'{re.escape(name)}(_\d{{8}})?-[0-9a-f]{{8}}\.pth'
    return re.fullmatch(pattern, url.rsplit('/', 1)[-1]) is not None


def expected_training_data(config):
    thumos = 'thumos' in osp.basename(config)
    if config.startswith('configs/demo/'):
        return DEMO_DATASETS[thumos]
    return 'THUMOS14' if thumos else 'ActivityNet v1.3'


def doc_table_rows():
    """``{config: (params, GFLOPs)}`` from docs/model_zoo.md's table."""
    with open(osp.join(ROOT, 'docs', 'model_zoo.md')) as f:
        lines = f.read().split('## Configs', 1)[1].split('###', 1)[0]
    rows = {}
    for line in lines.splitlines():
        cells = [c.strip() for c in line.strip('|').split('|')]
        if len(cells) == 7 and cells[0].startswith('`configs/'):
            rows[cells[0].strip('`')] = (cells[3], cells[4])
    return rows


def test_weights_name_check():
    assert weights_name_ok(
        'rcl_bmn_anet', 'https://x.org/a/rcl_bmn_anet-0a1b2c3d.pth')
    assert weights_name_ok('rcl_bmn_anet',
                           'rcl_bmn_anet_20261126-0a1b2c3d.pth')
    # Another model's file, a hash of the wrong length, an upper-case hash.
    assert not weights_name_ok('rcl_bmn_anet', 'bmn_anet-0a1b2c3d.pth')
    assert not weights_name_ok('rcl_bmn_anet', 'rcl_bmn_anet-0a1b2c.pth')
    assert not weights_name_ok('rcl_bmn_anet', 'rcl_bmn_anet-0A1B2C3D.pth')
    assert not weights_name_ok('bmn_anet', 'x_bmn_anet-0a1b2c3d.pth')


def test_imports_exist_and_parse():
    metafiles = load_metafiles()
    assert list(metafiles) == [
        'configs/metafiles/bmn.yml', 'configs/metafiles/rcl_bmn.yml',
        'configs/metafiles/gtad.yml', 'configs/metafiles/rcl_gtad.yml'
    ]
    for path, meta in metafiles.items():
        assert set(meta) == {'Collections', 'Models'}, path
        assert len(meta['Collections']) == 1, path
        collection = meta['Collections'][0]
        assert osp.isfile(osp.join(ROOT, collection['README'])), path
        assert collection['Paper']['URL'].startswith(
            'https://arxiv.org/abs/'), path
        assert collection['Paper']['Title'], path
        assert collection['Metadata']['Architecture'], path
        for model in meta['Models']:
            assert model['In Collection'] == collection['Name'], model


def test_every_config_listed_exactly_once():
    assert 'configs/bmn_anet.py' in CONFIGS
    listed = [model['Config'] for _, model in all_models()]
    for config in listed:
        assert osp.isfile(osp.join(ROOT, config)), f'{config} is missing'
    missing = sorted(set(CONFIGS) - set(listed))
    assert not missing, f'add {missing} to a configs/metafiles/*.yml'
    repeated = sorted({c for c in listed if listed.count(c) > 1})
    assert not repeated, f'{repeated} listed more than once'
    assert sorted(listed) == CONFIGS


def test_every_config_in_model_zoo_doc():
    with open(osp.join(ROOT, 'docs', 'model_zoo.md')) as f:
        doc = f.read()
    missing = [c for c in CONFIGS if f'`{c}`' not in doc]
    assert not missing, f'add {missing} to docs/model_zoo.md'
    # The table's size columns are the metafiles' numbers, rounded.
    rows = doc_table_rows()
    assert sorted(rows) == CONFIGS
    for _, model in all_models():
        meta = model['Metadata']
        assert rows[model['Config']] == (
            f'{meta["Parameters"] / 1e6:.2f} M',
            f'{meta["FLOPs"] / 1e9:.3f}'), model['Config']


@pytest.mark.parametrize(
    'model', [m for _, m in all_models()], ids=lambda m: m['Name'])
def test_model_entry(model):
    config = model['Config']
    name = osp.splitext(osp.basename(config))[0]
    # openmim finds a model by this name (mim download rcl_mm --config).
    assert model['Name'] == name
    meta = model['Metadata']
    cfg = Config.fromfile(osp.join(ROOT, config))
    assert meta['Epochs'] == cfg.train_cfg.max_epochs
    assert meta['Batch Size'] == cfg.train_dataloader.batch_size
    assert meta['Training Data'] == expected_training_data(config)
    if config.startswith('configs/demo/'):
        assert meta['Training Resources'] == '1 CPU process'
    elif 'auto_scale_lr' in cfg:
        gpus = (cfg.auto_scale_lr.base_batch_size //
                cfg.train_dataloader.batch_size)
        assert meta['Training Resources'] == f'{gpus} GPUs'
    # openmim iterates Results: it must be a list, possibly empty.
    assert isinstance(model['Results'], list)
    for result in model['Results']:
        assert result['Task'] == TASK
        assert result['Metrics'] and all(
            isinstance(v, (int, float)) for v in result['Metrics'].values())
        if result['Dataset'] in DEMO_DATASETS:
            assert meta['Training Data'] == result['Dataset']
        else:
            # A result on real data comes with the checkpoint that gave it.
            assert 'Weights' in model, f'{name}: result without weights'
    if 'Weights' in model:
        assert weights_name_ok(name, model['Weights']), model['Weights']


@pytest.mark.parametrize(
    'model', [m for _, m in all_models()], ids=lambda m: m['Name'])
def test_flops_and_parameters_match_get_flops(model):
    # What tools/analysis/get_flops.py prints, from the same functions:
    # one window (1 x C x T), mode='tensor'.
    cfg = Config.fromfile(osp.join(ROOT, model['Config']))
    with DefaultScope.overwrite_default_scope('rcl_mm'):
        net = MODELS.build(cfg.model).eval()
    inputs = torch.randn(1, net.backbone.feat_dim, net.backbone.temporal_dim)
    assert model['Metadata']['Parameters'] == parameter_count(net)['total']
    assert model['Metadata']['FLOPs'] == count_flops(
        net, inputs, mode='tensor')['total']
