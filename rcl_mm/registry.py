# Copyright (c) rcl_mm contributors. All rights reserved.
"""Registries of rcl_mm: children of mmaction2's, under the scope ``rcl_mm``.

Components registered here never clash with mmaction2's of the same name
(our ``BMN`` is ``rcl_mm.BMN``), while a config in the ``rcl_mm`` scope can
still build every mmaction2 and mmengine component through the parents.
"""
from mmaction.registry import DATASETS as MMACTION_DATASETS
from mmaction.registry import HOOKS as MMACTION_HOOKS
from mmaction.registry import METRICS as MMACTION_METRICS
from mmaction.registry import MODELS as MMACTION_MODELS
from mmaction.registry import TASK_UTILS as MMACTION_TASK_UTILS
from mmaction.registry import TRANSFORMS as MMACTION_TRANSFORMS
from mmaction.registry import VISUALIZERS as MMACTION_VISUALIZERS
from mmengine.registry import Registry

MODELS = Registry(
    'model', parent=MMACTION_MODELS, scope='rcl_mm',
    locations=['rcl_mm'])
TASK_UTILS = Registry(
    'task util', parent=MMACTION_TASK_UTILS, scope='rcl_mm',
    locations=['rcl_mm'])
DATASETS = Registry(
    'dataset', parent=MMACTION_DATASETS, scope='rcl_mm',
    locations=['rcl_mm'])
TRANSFORMS = Registry(
    'transform', parent=MMACTION_TRANSFORMS, scope='rcl_mm',
    locations=['rcl_mm'])
METRICS = Registry(
    'metric', parent=MMACTION_METRICS, scope='rcl_mm',
    locations=['rcl_mm'])
HOOKS = Registry(
    'hook', parent=MMACTION_HOOKS, scope='rcl_mm',
    locations=['rcl_mm'])
VISUALIZERS = Registry(
    'visualizer', parent=MMACTION_VISUALIZERS, scope='rcl_mm',
    locations=['rcl_mm'])
