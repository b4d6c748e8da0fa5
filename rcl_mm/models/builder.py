# Copyright (c) rcl_mm contributors. All rights reserved.
"""Build sub-modules in the ``rcl_mm`` scope, whatever the config's scope."""
from typing import Any, Optional, Union

import torch.nn as nn
from mmengine.registry import DefaultScope

from rcl_mm.registry import MODELS, TASK_UTILS
from rcl_mm.utils.typing import ConfigType


def build_module(cfg: Union[ConfigType, nn.Module]) -> nn.Module:
    """Build a model component, looking its type up in rcl_mm first.

    A user's mmaction2 config runs in the ``mmaction`` scope, where our
    ``BMNBackbone`` or ``ProposalMapLoss`` would not be found. Sub-modules
    of our models are therefore always built in the ``rcl_mm`` scope;
    mmaction2's and mmengine's types still resolve through the parent
    registries.

    Args:
        cfg (dict | nn.Module): A config with ``type``, or a built module,
            which is returned as is.

    Returns:
        nn.Module: The built module.
    """
    if isinstance(cfg, nn.Module):
        return cfg
    with DefaultScope.overwrite_default_scope('rcl_mm'):
        return MODELS.build(cfg)


def build_task_util(cfg: Any, default_type: Optional[str] = None) -> Any:
    """Build a task utility (a sampler, an anchor set) from TASK_UTILS in
    the ``rcl_mm`` scope, as :func:`build_module` builds modules.

    Args:
        cfg (dict | object): A config (``type`` optional where
            ``default_type`` is given: the older form, the arguments
            alone), or a built object, returned as is.
        default_type (str, optional): The type of a config without one.

    Returns:
        object: The built utility.
    """
    if not isinstance(cfg, dict):
        return cfg
    cfg = dict(cfg)
    if default_type is not None:
        cfg.setdefault('type', default_type)
    with DefaultScope.overwrite_default_scope('rcl_mm'):
        return TASK_UTILS.build(cfg)
