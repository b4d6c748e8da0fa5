# Copyright (c) rcl_mm contributors. All rights reserved.
"""Registries under scope rcl_mm, and the stack fixes (opt-in)."""
import io
import os
import os.path as osp
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.registry import DefaultScope, Registry

import rcl_mm
from mmaction import registry as mmaction_registry  # noqa: I001
from mmaction.registry import MODELS as MMACTION_MODELS  # noqa: I001
from rcl_mm import registry
from rcl_mm.utils.compat import (allow_mmengine_checkpoints,
                                  multimodal_importable)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


# Every registry of mmaction2 that has a parent in mmengine (all those the
# Runner looks up), as in mmdet's and mmyolo's registry modules.
MMACTION_REGISTRIES = [
    name for name, value in vars(mmaction_registry).items()
    if isinstance(value, Registry) and value.parent is not None
]


def test_every_registry_the_runner_looks_up_has_a_child():
    assert len(MMACTION_REGISTRIES) == 22
    for name in MMACTION_REGISTRIES:
        ours = getattr(registry, 'FUNCTIONS' if name == 'FUNCTION' else name)
        assert ours.scope == 'rcl_mm', name
        assert ours.parent is getattr(mmaction_registry, name), name
        assert ours.name == ours.parent.name, name
        # mmengine finds the child from the root of each tree.
        assert ours.parent.parent._search_child('rcl_mm') is ours, name


def test_our_bmn_and_mmaction2_bmn_coexist():
    from mmaction.models import BMN as MMBMN
    from rcl_mm.models import BMN
    assert registry.MODELS.get('BMN') is BMN
    assert MMACTION_MODELS.get('BMN') is MMBMN
    assert MMACTION_MODELS.get('rcl_mm.BMN') is BMN
    # mmaction2 types resolve through the parent.
    assert registry.MODELS.get('mmaction.BMN') is MMBMN
    assert registry.TRANSFORMS.get('PackLocalizationInputs').__module__ \
        .startswith('mmaction.')


def test_register_all_modules_sets_the_default_scope():
    rcl_mm.register_all_modules()
    assert DefaultScope.get_current_instance().scope_name == 'rcl_mm'


def test_missing_drn_is_a_placeholder_with_a_clear_error():
    from mmaction.models.localizers.drn.drn import DRN
    with pytest.raises(ImportError, match='lacks'):
        DRN()


def test_history_buffer_round_trips_under_weights_only():
    # What tools/*.py and StackFixesHook apply (not `import rcl_mm`).
    allow_mmengine_checkpoints()
    buffer = HistoryBuffer([1.0, 2.5], [1, 2], max_length=7)
    stream = io.BytesIO()
    torch.save({'buffer': buffer, 'scalar': np.float64(0.5),
                'array': np.arange(3)}, stream)
    stream.seek(0)
    loaded = torch.load(stream, weights_only=True)
    log, count = loaded['buffer'].data
    assert log.tolist() == [1.0, 2.5] and count.tolist() == [1, 2]
    assert loaded['buffer'].max_length == 7
    # mean = sum of logs / sum of counts = 3.5 / 3
    assert loaded['buffer'].mean() == pytest.approx(3.5 / 3)
    assert loaded['scalar'] == 0.5 and loaded['array'].tolist() == [0, 1, 2]


def test_weights_only_still_refuses_arbitrary_calls():
    class Evil:

        def __reduce__(self):
            return (print, ('never runs', ))

    stream = io.BytesIO()
    torch.save({'x': Evil()}, stream)
    stream.seek(0)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(stream, weights_only=True)


@pytest.mark.parametrize('version, importable', [
    ('4.46.3', True), ('4.28.0', True), ('5.0.0', False), ('5.17.0', False),
    ('10.1', False), ('4.57.0.dev0', True), (None, False)])
def test_multimodal_importable_by_transformers_version(version, importable):
    assert multimodal_importable(version) is importable


def test_mmaction_models_import_with_transformers_5(tmp_path):
    """A transformers 5 in the environment (a stand-in distribution):
    ``import rcl_mm`` keeps mmaction2's multimodal models from importing,
    so ``mmaction.models`` imports; they stay placeholders."""
    dist = tmp_path / 'transformers-5.17.0.dist-info'
    dist.mkdir()
    (dist / 'METADATA').write_text(
        'Metadata-Version: 2.1\nName: transformers\nVersion: 5.17.0\n')
    code = ('import rcl_mm, mmaction.models\n'
            'from mmaction.utils import dependency\n'
            'print(dependency.WITH_MULTIMODAL)\n')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(tmp_path), ROOT] + [os.environ.get('PYTHONPATH', '')]))
    proc = subprocess.run([sys.executable, '-c', code], env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == 'False'
