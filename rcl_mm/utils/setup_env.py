# Copyright (c) rcl_mm contributors. All rights reserved.
"""Register all modules and set the default scope."""
import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every rcl_mm (and mmaction2) module so registries are filled.

    Args:
        init_default_scope (bool): Whether to make ``rcl_mm`` the default
            scope, so that config types are looked up in our registries
            first and then in mmaction2's and mmengine's. Defaults to True.
    """
    import mmaction.utils
    mmaction.utils.register_all_modules(init_default_scope=False)
    import rcl_mm.datasets  # noqa: F401
    import rcl_mm.engine  # noqa: F401
    import rcl_mm.evaluation  # noqa: F401
    import rcl_mm.models  # noqa: F401
    import rcl_mm.visualization  # noqa: F401

    if not init_default_scope:
        return
    current = DefaultScope.get_current_instance()
    if current is None or not DefaultScope.check_instance_created('rcl_mm'):
        DefaultScope.get_instance('rcl_mm', scope_name='rcl_mm')
        return
    if current.scope_name != 'rcl_mm':
        warnings.warn(f'The default scope is "{current.scope_name}"; '
                      'register_all_modules sets it to "rcl_mm".')
        # A new instance name, as mmengine keeps instances by name.
        stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S-%f')
        DefaultScope.get_instance(f'rcl_mm-{stamp}', scope_name='rcl_mm')
