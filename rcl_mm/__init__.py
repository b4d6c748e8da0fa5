# Copyright (c) rcl_mm contributors. All rights reserved.
"""rcl_mm: RCL (Recurrent Continuous Localization, CVPR 2022) for mmaction2.

Importing the package registers every component in the ``rcl_mm``
registries (children of mmaction2's) and provides the module that the
mmaction2 1.2.0 wheel lacks (:func:`rcl_mm.utils.compat.patch_missing_drn`);
it changes nothing else. The process-wide fixes (atomic writes, mmengine
checkpoints under torch >= 2.6) are opt-in:
:func:`rcl_mm.utils.apply_stack_fixes` or ``StackFixesHook``.
"""
import warnings

from .utils.compat import patch_missing_drn
from .version import __version__, version_info

patch_missing_drn()

# Importing the subpackages registers their components. mmcv-lite has no
# compiled ops by design, and the mmcv module mmaction2 imports warns about
# it; the filter is scoped to this import (the process's filters stay as
# they were; docs/getting_started.md, "Warnings").
with warnings.catch_warnings():
    warnings.filterwarnings(
        'ignore', message='Fail to import ``MultiScaleDeformableAttention``')
    from . import datasets, engine, evaluation  # noqa: E402,F401,I001
    from . import models, ops, visualization  # noqa: E402,F401,I001
from .utils.setup_env import register_all_modules  # noqa: E402

__all__ = ['__version__', 'version_info', 'register_all_modules']
