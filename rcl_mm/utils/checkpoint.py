# Copyright (c) rcl_mm contributors. All rights reserved.
"""Checkpoint conversion from mmaction2 and atomic saving."""
import os
import os.path as osp
import tempfile
from collections import OrderedDict
from typing import Dict

import torch

# mmaction2 BMN parameter prefix -> rcl_mm BMN parameter prefix.
MMACTION2_BMN_NAME_MAP = OrderedDict([
    ('x_1d_b.', 'backbone.base.'),
    ('x_1d_s.', 'backbone.tem_start.'),
    ('x_1d_e.', 'backbone.tem_end.'),
    ('x_1d_p.', 'backbone.proposal_1d.'),
    ('x_3d_p.0.', 'backbone.bm_conv.'),
    ('x_2d_p.0.', 'head.convs.0.'),
    ('x_2d_p.2.', 'head.convs.2.'),
    ('x_2d_p.4.', 'head.convs.4.'),
    ('x_2d_p.6.', 'head.out.'),
])
# mmaction2 keeps its sampling mask (128 MB at T = 100) and the BM mask in
# the state dict; ours are rebuilt from the config, so they are dropped.
MMACTION2_BMN_DROPPED = ('sample_mask', 'bm_mask')


def convert_mmaction2_bmn(
        state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Rename the parameters of ``mmaction.models.BMN`` to ours.

    Args:
        state_dict (dict[str, Tensor]): mmaction2 BMN state dict, with or
            without a ``module.`` prefix (from a DDP-wrapped model).

    Returns:
        OrderedDict[str, Tensor]: The state dict of ``rcl_mm.BMN``.

    Raises:
        KeyError: If a key is neither mapped nor known to be dropped, so a
            checkpoint of another model is not half converted.
    """
    converted = OrderedDict()
    unknown = []
    for key, value in state_dict.items():
        name = key[len('module.'):] if key.startswith('module.') else key
        if name in MMACTION2_BMN_DROPPED:
            continue
        for old, new in MMACTION2_BMN_NAME_MAP.items():
            if name.startswith(old):
                converted[new + name[len(old):]] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise KeyError(
            f'Not an mmaction2 BMN state dict: unknown keys {unknown[:5]}'
            f'{" ..." if len(unknown) > 5 else ""}.')
    missing = [
        old for old, new in MMACTION2_BMN_NAME_MAP.items()
        if not any(key.startswith(new) for key in converted)
    ]
    if missing:
        raise KeyError(f'Not an mmaction2 BMN state dict: no parameters '
                       f'under {missing}.')
    return converted


def save_checkpoint_atomic(checkpoint: dict, path: str) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename.

    A killed process never leaves a half-written checkpoint at ``path``.

    Args:
        checkpoint (dict): What to save.
        path (str): Destination file.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            torch.save(checkpoint, f)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
