# Copyright (c) rcl_mm contributors. All rights reserved.
"""Build sub-modules in the ``rcl_mm`` scope, whatever the config's scope."""
from typing import Union

import torch.nn as nn
from mmengine.registry import DefaultScope

from rcl_mm.registry import MODELS
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
