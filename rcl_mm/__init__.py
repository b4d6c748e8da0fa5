# Copyright (c) rcl_mm contributors. All rights reserved.
"""rcl_mm: RCL (Recurrent Continuous Localization, CVPR 2022) for mmaction2.

Importing the package applies the fixes the dependency stack needs (see
:mod:`rcl_mm.utils.compat`) and registers every component in the ``rcl_mm``
registries, children of mmaction2's.
"""
from .utils.compat import apply_stack_fixes
from .version import __version__, version_info

apply_stack_fixes()

# Importing the subpackages registers their components.
from . import datasets, engine, evaluation  # noqa: E402,F401,I001
from . import models, ops, visualization  # noqa: E402,F401,I001
from .utils.setup_env import register_all_modules  # noqa: E402

__all__ = ['__version__', 'version_info', 'register_all_modules']
