# Copyright (c) rcl_mm contributors. All rights reserved.
from .compat import apply_stack_fixes
from .setup_env import register_all_modules

__all__ = ['apply_stack_fixes', 'register_all_modules']
