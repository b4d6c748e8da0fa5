# Copyright (c) rcl_mm contributors. All rights reserved.
from .checkpoint import convert_mmaction2_bmn, save_checkpoint_atomic
from .compat import apply_stack_fixes, mmengine_checkpoint_globals
from .memory import reuse_freed_memory
from .setup_env import register_all_modules

__all__ = [
    'apply_stack_fixes', 'convert_mmaction2_bmn', 'mmengine_checkpoint_globals',
    'register_all_modules',
    'reuse_freed_memory', 'save_checkpoint_atomic'
]
