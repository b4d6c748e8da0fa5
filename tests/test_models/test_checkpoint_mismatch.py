# Copyright (c) rcl_mm contributors. All rights reserved.
"""A checkpoint that does not fit the localizer stops the loading."""
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint

from rcl_mm.models.localizers.state_dict_check import (
    CheckpointMismatchError, guess_model, rrm_block, upgrade_key,
    upgrade_state_dict)
from rcl_mm.registry import MODELS
from rcl_mm.utils.checkpoint import (MMACTION2_BMN_NAME_MAP,
                                     convert_mmaction2_bmn)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# Tiny models: the check is about keys and shapes, not sizes.
TINY = dict(backbone=dict(num_samples=2, hidden_dim_1d=8, hidden_dim_3d=8,
                          temporal_dim=16),
            head=dict(in_channels=8, hidden_channels=4))


def build(config, **backbone):
    cfg = Config.fromfile(osp.join(ROOT, config))
    cfg.merge_from_dict(dict(model=TINY))
    cfg.merge_from_dict(dict(model=dict(backbone=backbone)))
    with DefaultScope.overwrite_default_scope('rcl_mm'):
        return MODELS.build(cfg.model)


def save(model_or_state, path):
    """mmengine's checkpoint layout."""
    state = model_or_state if isinstance(model_or_state, dict) else \
        model_or_state.state_dict()
    torch.save({'meta': {}, 'state_dict': state}, path)
    return str(path)


def load(model, path):
    """As the Runner loads ``load_from`` / ``--resume``: strict=False."""
    return load_checkpoint(model, path, map_location='cpu', strict=False)


def test_gtad_checkpoint_into_bmn_names_keys(tmp_path):
    bmn = build('configs/demo/bmn_demo.py')
    path = save(build('configs/demo/gtad_demo.py'), tmp_path / 'gtad.pth')
    with pytest.raises(CheckpointMismatchError) as e:
        load(bmn, path)
    msg = str(e.value)
    assert 'does not fit ProposalMapLocalizer' in msg
    # Five of each kind, then the count of the rest.
    assert '- 14 missing keys: backbone.base.2.weight, ' \
        'backbone.base.2.bias, backbone.tem_start.0.weight, ' \
        'backbone.tem_start.0.bias, backbone.tem_start.2.weight ' \
        '... (9 more)' in msg
    assert '- 54 unexpected keys: backbone.base.2.tconvs.0.weight, ' in msg
    assert 'The checkpoint seems to be for G-TAD.' in msg


def test_unconverted_mmaction2_bmn_says_convert(tmp_path):
    bmn = build('configs/demo/bmn_demo.py')
    ours = bmn.state_dict()
    # Our names back to mmaction2's (what tools/convert reverses).
    theirs = {}
    for key, value in ours.items():
        for old, new in MMACTION2_BMN_NAME_MAP.items():
            if key.startswith(new):
                theirs[old + key[len(new):]] = value
                break
    assert len(theirs) == len(ours)
    with pytest.raises(CheckpointMismatchError) as e:
        load(bmn, save(theirs, tmp_path / 'mmaction2_bmn.pth'))
    msg = str(e.value)
    assert "seems to be for mmaction2's BMN (unconverted)" in msg
    assert 'tools/convert/mmaction2_bmn.py' in msg
    # Converted, it loads.
    load(bmn, save(convert_mmaction2_bmn(theirs), tmp_path / 'conv.pth'))


def test_shape_mismatch_lists_shapes(tmp_path):
    model = build('configs/demo/bmn_demo.py', feat_dim=64)
    path = save(build('configs/demo/bmn_demo.py', feat_dim=400),
                tmp_path / 'feat400.pth')
    with pytest.raises(CheckpointMismatchError) as e:
        load(model, path)
    msg = str(e.value)
    # backbone.base.0 is BMN's Conv1d(feat_dim, 8, 3, groups=4): weight
    # 8 x feat_dim / 4 x 3, the only key that depends on feat_dim.
    assert '- 1 shape mismatches: backbone.base.0.weight: checkpoint ' \
        '(8, 100, 3) vs model (8, 16, 3)' in msg
    assert 'missing keys' not in msg and 'unexpected keys' not in msg


def test_right_checkpoint_loads(tmp_path):
    src = build('configs/demo/rcl_bmn_demo.py')
    dst = build('configs/demo/rcl_bmn_demo.py')
    load(dst, save(src, tmp_path / 'rcl.pth'))
    for key, value in src.state_dict().items():
        assert torch.equal(dst.state_dict()[key], value), key
    # torch's own strict loading goes through the same check.
    dst.load_state_dict(src.state_dict())
    with pytest.raises(CheckpointMismatchError, match='G-TAD'):
        dst.load_state_dict(build('configs/demo/gtad_demo.py').state_dict())


def test_light_rrm_checkpoint_loads_with_the_light_config(tmp_path):
    """RCL checkpoints trained before the supplement's RRM became the
    default have the light block's layers: they load with
    configs/rcl_bmn_anet_light_rrm.py, and the default config names the
    block in its refusal."""
    light = build('configs/rcl_bmn_anet_light_rrm.py')
    assert light.neck.block_type == 'light'
    path = save(light, tmp_path / 'light.pth')
    again = build('configs/rcl_bmn_anet_light_rrm.py')
    load(again, path)
    for key, value in light.state_dict().items():
        assert torch.equal(again.state_dict()[key], value), key
    default = build('configs/rcl_bmn_anet.py')
    assert default.neck.block_type == 'raft_small'
    with pytest.raises(CheckpointMismatchError) as e:
        load(default, path)
    msg = str(e.value)
    assert 'missing keys: neck.update_block.' in msg
    assert 'unexpected keys: neck.feat_enc.' in msg
    assert ("Its RRM is the 'light' block, the model's the 'raft_small' "
            "one: load it with model.neck.update_block='light'") in msg
    assert 'configs/rcl_bmn_anet_light_rrm.py' in msg
    # And the other way round.
    with pytest.raises(CheckpointMismatchError,
                       match="Its RRM is the 'raft_small' block"):
        load(again, save(default, tmp_path / 'supp.pth'))


def old_key_names(state_dict):
    """A state dict as RCL saved it while the RRM was its ``refiner``."""
    return {('refiner.' + k[len('neck.'):] if k.startswith('neck.') else k):
            v for k, v in state_dict.items()}


def test_upgrade_state_dict_renames_the_refiner_in_place():
    state = dict([('backbone.a', 1), ('refiner.cnet.weight', 2),
                  ('head.car.0.bias', 3), ('refiner.gru.convz.bias', 4)])
    assert upgrade_state_dict(state)
    assert list(state.items()) == [
        ('backbone.a', 1), ('neck.cnet.weight', 2), ('head.car.0.bias', 3),
        ('neck.gru.convz.bias', 4)]
    assert not upgrade_state_dict(state)
    assert upgrade_key('refiner.') == 'neck.'
    # Only the prefix: a key that merely contains the word stays.
    assert upgrade_key('head.refiner.w') == 'head.refiner.w'


@pytest.mark.parametrize('config', ['configs/rcl_bmn_anet.py',
                                    'configs/rcl_bmn_anet_light_rrm.py'])
def test_checkpoint_with_refiner_keys_loads_into_the_neck(tmp_path, config):
    """A checkpoint saved with the old ``refiner.*`` keys (each RRM
    block) loads into ``model.neck``, by mmengine (strict=False, as
    load_from) and torch's strict load_state_dict alike."""
    torch.manual_seed(3)
    src = build(config)
    for param in src.neck.parameters():
        param.data.normal_()  # not the initial values of a new model
    old = old_key_names(src.state_dict())
    assert any(k.startswith('refiner.') for k in old)
    assert not any(k.startswith('neck.') for k in old)
    path = save(old, tmp_path / 'old.pth')
    for loader in (lambda m: load(m, path),
                   lambda m: m.load_state_dict(old_key_names(
                       src.state_dict()))):
        dst = build(config)
        loader(dst)
        for key, value in src.state_dict().items():
            assert torch.equal(dst.state_dict()[key], value), key
    # A mismatch in an old checkpoint is reported under the new names.
    del old['refiner.cnet.weight']
    with pytest.raises(CheckpointMismatchError,
                       match='1 missing keys: neck.cnet.weight'):
        build(config).load_state_dict(old)


def test_old_allow_missing_keys_prefix_reads_as_the_neck(tmp_path):
    """``allow_missing_keys=['refiner.']`` (configs from before the neck)
    allows the neck's keys to be missing."""
    path = save(build('configs/bmn_anet.py'), tmp_path / 'bmn.pth')
    rcl = build('configs/rcl_bmn_anet.py')
    rcl.allow_missing_keys = ('head.car.', 'refiner.')
    load(rcl, path)


def test_bmn_into_rcl_bmn_fine_tune_config(tmp_path):
    """configs/rcl_bmn_anet_from_mmaction2.py: a (converted) BMN into
    RCL-BMN, whose RCL parts are new, via ``allow_missing_keys``."""
    bmn = build('configs/bmn_anet.py')
    path = save(bmn, tmp_path / 'bmn.pth')
    rcl = build('configs/rcl_bmn_anet_from_mmaction2.py')
    assert rcl.allow_missing_keys == ('head.car.', 'neck.')
    load(rcl, path)
    for key, value in bmn.state_dict().items():
        assert torch.equal(rcl.state_dict()[key], value), key
    # Without the knob, the RCL parts are reported missing.
    strict = build('configs/rcl_bmn_anet.py')
    with pytest.raises(CheckpointMismatchError) as e:
        load(strict, path)
    assert 'missing keys: head.car.' in str(e.value)
    assert 'seems to be for BMN.' in str(e.value)
    # The knob does not hide a checkpoint of another model.
    with pytest.raises(CheckpointMismatchError, match='unexpected keys'):
        load(rcl, save(build('configs/gtad_anet.py'), tmp_path / 'g.pth'))


def test_guess_model():
    assert guess_model(['neck.gru.w', 'backbone.bm_conv.w']) == \
        'RCL-BMN'
    # A checkpoint from before the RRM was the neck.
    assert guess_model(['refiner.gru.w', 'backbone.bm_conv.w']) == \
        'RCL-BMN'
    assert rrm_block(['refiner.update_block.gru.convz.weight']) == \
        'raft_small'
    assert guess_model(['head.car.w', 'backbone.sg_conv.w']) == 'RCL-G-TAD'
    assert guess_model(['x_1d_b.0.weight']) == \
        "mmaction2's BMN (unconverted)"
    assert guess_model(['foo.bar']) == ''


def test_tools_test_names_the_checkpoint(tmp_path):
    from rcl_mm.datasets.synthetic import synthesize_demo_dataset
    data = str(tmp_path / 'data')
    synthesize_demo_dataset(data, seed=1, num_train=1, num_val=1,
                            formats=('npy', ))
    checkpoint = save(build('configs/demo/gtad_demo.py'),
                      tmp_path / 'gtad_demo.pth')
    key = 'test_dataloader'
    proc = subprocess.run(
        [sys.executable, 'tools/test.py', 'configs/demo/bmn_demo.py',
         checkpoint, '--work-dir', str(tmp_path / 'work'),
         '--cfg-options'] + [f'model.{k}' for k in (
             'backbone.num_samples=2', 'backbone.hidden_dim_1d=8',
             'backbone.hidden_dim_3d=8', 'head.in_channels=8',
             'head.hidden_channels=4')] + [
             f'{key}.dataset.ann_file={data}/anet_anno_val.json',
             f'{key}.dataset.data_prefix.video={data}/npy',
             f'{key}.dataset.feature_ext=.npy', f'{key}.num_workers=0',
             f'{key}.persistent_workers=False'],
        cwd=ROOT, capture_output=True, text=True)
    # A user error: one message (its detail lines indented), exit 2.
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert 'Traceback' not in proc.stderr
    last = proc.stderr.strip().splitlines()
    msg = '\n'.join(last[-12:])
    assert f'error: {checkpoint}: The checkpoint does not fit ' \
        'ProposalMapLocalizer' in msg, proc.stderr[-2000:]
    assert 'seems to be for G-TAD' in msg


def test_init_localizer_names_the_checkpoint(tmp_path):
    from rcl_mm.apis.inference import init_localizer
    checkpoint = save(build('configs/demo/gtad_demo.py'), tmp_path / 'g.pth')
    with pytest.raises(CheckpointMismatchError) as e:
        init_localizer(osp.join(ROOT, 'configs/demo/bmn_demo.py'),
                       checkpoint, cfg_options=dict(model=TINY))
    assert str(e.value).startswith(
        f'{checkpoint}: The checkpoint does not fit ProposalMapLocalizer:')
