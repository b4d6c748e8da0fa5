# Copyright (c) rcl_mm contributors. All rights reserved.
"""Refuse a checkpoint whose state dict does not fit the model.

mmengine loads ``load_from``, ``--resume`` and ``tools/test.py CHECKPOINT``
with ``strict=False`` and only logs missing or unexpected keys, so the
checkpoint of another model would run with random weights. Our localizers
check the whole state dict when loading starts (docs/reliability.md).
"""
from typing import List, Mapping, MutableMapping, Sequence

from torch import Tensor

from rcl_mm.utils.checkpoint import MMACTION2_BMN_NAME_MAP

#: Shown per kind of mismatch.
MAX_LISTED = 5
#: Key prefix -> the model whose state dict has it.
MMACTION2_BMN = "mmaction2's BMN (unconverted)"
MODEL_SIGNATURES = (
    (tuple(MMACTION2_BMN_NAME_MAP), MMACTION2_BMN),
    (('backbone.proposal_gcn.', 'backbone.sg_conv.'), 'G-TAD'),
    (('backbone.bm_conv.', ), 'BMN'),
)
#: Old key prefix -> its name now: the RRM was the localizer's
#: ``refiner`` before it became its ``neck`` (checkpoints trained then
#: load, :func:`upgrade_state_dict`).
RENAMED_PREFIXES = {'refiner.': 'neck.'}
#: Keys of the RCL parts (CAR head, RRM neck) on top of either base.
RCL_PREFIXES = ('neck.', 'head.car.')
#: Key prefix -> the RRM block (``RRMRefiner``'s ``update_block``) with it.
RRM_BLOCK_SIGNATURES = (('neck.update_block.', 'raft_small'),
                        ('neck.delta_head.', 'light'))
#: A config of each RRM block, for the message.
RRM_BLOCK_CONFIGS = dict(raft_small='configs/rcl_bmn_anet.py',
                         light='configs/rcl_bmn_anet_light_rrm.py')


class CheckpointMismatchError(ValueError):
    """A state dict that does not fit the model it is loaded into."""
    user_error = True  # reported without a traceback (rcl_mm.utils.cli)


def upgrade_key(key: str) -> str:
    """A state-dict key (or key prefix) under its current name
    (:data:`RENAMED_PREFIXES`): ``'refiner.cnet.weight'`` ->
    ``'neck.cnet.weight'``; other keys unchanged."""
    for old, new in RENAMED_PREFIXES.items():
        if key.startswith(old):
            return new + key[len(old):]
    return key


def upgrade_state_dict(state_dict: MutableMapping[str, Tensor]) -> bool:
    """Rename the keys of an older checkpoint in place, keeping their
    order (:func:`upgrade_key`); the one place old names are mapped.

    Args:
        state_dict (MutableMapping[str, Tensor]): A localizer's state dict
            (keys from the model's root).

    Returns:
        bool: Whether any key was renamed.
    """
    keys = list(state_dict)
    if all(upgrade_key(k) == k for k in keys):
        return False
    items = [(upgrade_key(k), state_dict.pop(k)) for k in keys]
    state_dict.update(items)
    return True


def guess_model(keys: Sequence[str]) -> str:
    """Name the model a state dict seems to be for ('' if unknown):
    ``'BMN'``, ``'G-TAD'``, ``'RCL-BMN'``, ``'RCL-G-TAD'`` or
    mmaction2's BMN."""
    keys = [upgrade_key(k) for k in keys]
    for prefixes, name in MODEL_SIGNATURES:
        if any(k.startswith(prefixes) for k in keys):
            if name != MMACTION2_BMN and any(
                    k.startswith(RCL_PREFIXES) for k in keys):
                return f'RCL-{name}'
            return name
    return ''


def rrm_block(keys: Sequence[str]) -> str:
    """The RRM block (``'raft_small'`` or ``'light'``) whose layers a
    state dict has, '' if none."""
    keys = [upgrade_key(k) for k in keys]
    for prefix, block in RRM_BLOCK_SIGNATURES:
        if any(k.startswith(prefix) for k in keys):
            return block
    return ''


def _listed(items: List[str]) -> str:
    more = len(items) - MAX_LISTED
    return ', '.join(items[:MAX_LISTED]) + (f' ... ({more} more)'
                                            if more > 0 else '')


def check_state_dict(model_state: Mapping[str, Tensor],
                     state_dict: Mapping[str, Tensor],
                     allow_missing_keys: Sequence[str] = (),
                     model_name: str = 'the model') -> None:
    """Raise :class:`CheckpointMismatchError` unless they fit.

    Args:
        model_state (Mapping[str, Tensor]): The model's ``state_dict()``.
        state_dict (Mapping[str, Tensor]): What is loaded.
        allow_missing_keys (Sequence[str]): Key prefixes of the model that
            the checkpoint may lack (new parts trained from scratch); old
            names (``'refiner.'``) are read as the new ones.
        model_name (str): For the message.
    """
    allowed = tuple(upgrade_key(k) for k in allow_missing_keys)
    # BatchNorm counters are not weights (mmengine ignores them too).
    missing = [
        k for k in model_state
        if k not in state_dict and not k.endswith('num_batches_tracked')
        and not (allowed and k.startswith(allowed))
    ]
    unexpected = [k for k in state_dict if k not in model_state]
    shapes = [
        f'{k}: checkpoint {tuple(v.shape)} vs model '
        f'{tuple(model_state[k].shape)}' for k, v in state_dict.items()
        if k in model_state and hasattr(v, 'shape')
        and tuple(v.shape) != tuple(model_state[k].shape)
    ]
    if not (missing or unexpected or shapes):
        return
    lines = [f'The checkpoint does not fit {model_name}:']
    if missing:
        lines.append(f'- {len(missing)} missing keys: {_listed(missing)}')
    if unexpected:
        lines.append(f'- {len(unexpected)} unexpected keys: '
                     f'{_listed(unexpected)}')
    if shapes:
        lines.append(f'- {len(shapes)} shape mismatches: {_listed(shapes)}')
    seems = guess_model(list(state_dict))
    if seems:
        lines.append(f'The checkpoint seems to be for {seems}.')
    theirs, ours = rrm_block(list(state_dict)), rrm_block(list(model_state))
    if theirs and ours and theirs != ours:
        lines.append(
            f"Its RRM is the '{theirs}' block, the model's the '{ours}' "
            f"one: load it with model.neck.update_block='{theirs}' and "
            f'that block\'s settings (as {RRM_BLOCK_CONFIGS[theirs]}; '
            'docs/rcl.md).')
    if seems == MMACTION2_BMN:
        lines.append('Convert it with tools/convert/mmaction2_bmn.py '
                     'first (docs/getting_started.md).')
    else:
        lines.append(
            'Use a checkpoint of this config (same model and feat_dim / '
            'temporal_dim); to initialise a model whose new parts start '
            'from scratch, list their key prefixes in the model\'s '
            '`allow_missing_keys` (e.g. configs/'
            'rcl_bmn_anet_from_mmaction2.py).')
    raise CheckpointMismatchError('\n'.join(lines))


def with_checkpoint_path(error: Exception, path: str) -> Exception:
    """The same kind of error, its message prefixed with ``path``."""
    return type(error)(f'{path}: {error}')


__all__ = ['CheckpointMismatchError', 'check_state_dict', 'guess_model',
           'rrm_block', 'upgrade_key', 'upgrade_state_dict',
           'with_checkpoint_path']
