# Copyright (c) rcl_mm contributors. All rights reserved.
"""Registries of rcl_mm: children of mmaction2's, under the scope ``rcl_mm``.

Components registered here never clash with mmaction2's of the same name
(our ``BMN`` is ``rcl_mm.BMN``), while a config in the ``rcl_mm`` scope can
still build every mmaction2 and mmengine component through the parents.

Every registry the Runner looks up has an ``rcl_mm`` child, as in mmdet and
mmyolo, also those where we register nothing (loops, samplers, optimizers,
...): mmengine searches the registry tree of each for the default scope
and warns where it finds none.
"""
from mmaction.registry import DATA_SAMPLERS as MMACTION_DATA_SAMPLERS
from mmaction.registry import DATASETS as MMACTION_DATASETS
from mmaction.registry import EVALUATOR as MMACTION_EVALUATOR
from mmaction.registry import FUNCTION as MMACTION_FUNCTION
from mmaction.registry import HOOKS as MMACTION_HOOKS
from mmaction.registry import INFERENCERS as MMACTION_INFERENCERS
from mmaction.registry import LOG_PROCESSORS as MMACTION_LOG_PROCESSORS
from mmaction.registry import LOOPS as MMACTION_LOOPS
from mmaction.registry import METRICS as MMACTION_METRICS
from mmaction.registry import MODEL_WRAPPERS as MMACTION_MODEL_WRAPPERS
from mmaction.registry import MODELS as MMACTION_MODELS
from mmaction.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMACTION_OPTIM_WRAPPER_CONSTRUCTORS
from mmaction.registry import OPTIM_WRAPPERS as MMACTION_OPTIM_WRAPPERS
from mmaction.registry import OPTIMIZERS as MMACTION_OPTIMIZERS
from mmaction.registry import PARAM_SCHEDULERS as MMACTION_PARAM_SCHEDULERS
from mmaction.registry import \
    RUNNER_CONSTRUCTORS as MMACTION_RUNNER_CONSTRUCTORS
from mmaction.registry import RUNNERS as MMACTION_RUNNERS
from mmaction.registry import TASK_UTILS as MMACTION_TASK_UTILS
from mmaction.registry import TRANSFORMS as MMACTION_TRANSFORMS
from mmaction.registry import VISBACKENDS as MMACTION_VISBACKENDS
from mmaction.registry import VISUALIZERS as MMACTION_VISUALIZERS
from mmaction.registry import \
    WEIGHT_INITIALIZERS as MMACTION_WEIGHT_INITIALIZERS
from mmengine.registry import Registry


def _child(name: str, parent: Registry) -> Registry:
    """The ``rcl_mm`` child of one of mmaction2's registries."""
    return Registry(name, parent=parent, scope='rcl_mm',
                    locations=['rcl_mm'])


# Where rcl_mm registers components.
MODELS = _child('model', MMACTION_MODELS)
TASK_UTILS = _child('task util', MMACTION_TASK_UTILS)
DATASETS = _child('dataset', MMACTION_DATASETS)
TRANSFORMS = _child('transform', MMACTION_TRANSFORMS)
METRICS = _child('metric', MMACTION_METRICS)
HOOKS = _child('hook', MMACTION_HOOKS)
# Empty so far: they find mmaction2's and mmengine's through the parents.
VISUALIZERS = _child('visualizer', MMACTION_VISUALIZERS)
RUNNERS = _child('runner', MMACTION_RUNNERS)
RUNNER_CONSTRUCTORS = _child('runner constructor',
                             MMACTION_RUNNER_CONSTRUCTORS)
LOOPS = _child('loop', MMACTION_LOOPS)
DATA_SAMPLERS = _child('data sampler', MMACTION_DATA_SAMPLERS)
MODEL_WRAPPERS = _child('model_wrapper', MMACTION_MODEL_WRAPPERS)
WEIGHT_INITIALIZERS = _child('weight initializer',
                             MMACTION_WEIGHT_INITIALIZERS)
OPTIMIZERS = _child('optimizer', MMACTION_OPTIMIZERS)
OPTIM_WRAPPERS = _child('optim_wrapper', MMACTION_OPTIM_WRAPPERS)
OPTIM_WRAPPER_CONSTRUCTORS = _child('optimizer wrapper constructor',
                                    MMACTION_OPTIM_WRAPPER_CONSTRUCTORS)
PARAM_SCHEDULERS = _child('parameter scheduler', MMACTION_PARAM_SCHEDULERS)
EVALUATOR = _child('evaluator', MMACTION_EVALUATOR)
VISBACKENDS = _child('vis_backend', MMACTION_VISBACKENDS)
LOG_PROCESSORS = _child('log_processor', MMACTION_LOG_PROCESSORS)
INFERENCERS = _child('inferencer', MMACTION_INFERENCERS)
FUNCTIONS = _child('function', MMACTION_FUNCTION)
