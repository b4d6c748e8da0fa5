# Copyright (c) rcl_mm contributors. All rights reserved.
"""Checkpoint conversion from mmaction2, atomic saving and publishing."""
import hashlib
import io
import os.path as osp
import zipfile
from collections import OrderedDict
from typing import Dict

import torch

from rcl_mm.utils.compat import mmengine_checkpoint_globals
from rcl_mm.utils.cli import UserError, UserFileNotFoundError
from rcl_mm.utils.io import atomic_write

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
    with atomic_write(path, 'wb') as f:
        torch.save(checkpoint, f)


def check_checkpoint_file(path: str) -> None:
    """Refuse a missing, truncated or corrupt checkpoint, naming the file.

    torch's own message (``PytorchStreamReader failed reading zip
    archive``) names neither the file nor the fix. A checkpoint of
    ``torch.save`` is a zip archive: its central directory is read and
    every member's CRC checked (a read of the file, no unpickling). A file
    in torch's legacy (pre-1.6, not zip) format is loaded instead.

    Args:
        path (str): The checkpoint file.

    Raises:
        UserError: Naming the file and what to do.
    """
    if not osp.isfile(path):
        raise UserFileNotFoundError(
            'checkpoint not found', path,
            'check the path (a file written by the Runner, e.g. '
            'work_dirs/<config>/epoch_N.pth)')
    fix = ('the file is truncated or corrupt; copy or download it again, or '
           'use another checkpoint of the run')
    with open(path, 'rb') as f:
        magic = f.read(4)
    if magic == b'PK\x03\x04' and not zipfile.is_zipfile(path):
        raise UserError('truncated checkpoint (a zip archive without its '
                        'end)', path, fix)
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            raise UserError(f'unreadable checkpoint ({error})', path,
                            fix) from error
        if bad is not None:
            raise UserError(f'corrupt checkpoint (member {bad})', path, fix)
        return
    try:
        torch.load(path, map_location='cpu', weights_only=False)
    except Exception as error:  # noqa: B902  (any failure to read it)
        raise UserError(
            f'not a readable checkpoint ({type(error).__name__}: '
            f'{str(error).splitlines()[0] if str(error) else ""})', path,
            fix) from error


def publish_checkpoint(src: str, out_prefix: str) -> str:
    """Strip a training checkpoint for release and name it by its hash.

    Keeps only ``meta`` and ``state_dict`` (optimizer, schedulers and the
    message hub are dropped), writes ``<out_prefix>-<sha256[:8]>.pth``
    atomically and returns its path. The hash is the SHA-256 of the file's
    bytes (hashlib), as in OpenMMLab model-zoo file names.

    Args:
        src (str): Checkpoint written by the Runner.
        out_prefix (str): Output path without the hash and extension, e.g.
            ``work_dirs/rcl_bmn_anet/rcl_bmn_anet_20261126``.

    Returns:
        str: The published file.
    """
    check_checkpoint_file(src)
    with mmengine_checkpoint_globals():
        checkpoint = torch.load(src, map_location='cpu')
    if not isinstance(checkpoint, dict) or 'state_dict' not in checkpoint:
        raise KeyError(f'{src} has no "state_dict"; is it a checkpoint '
                       'written by the mmengine Runner?')
    meta = dict(checkpoint.get('meta') or {})
    # The training history is of no use to users of the weights.
    meta.pop('hook_msgs', None)
    buffer = io.BytesIO()
    torch.save(dict(meta=meta, state_dict=checkpoint['state_dict']), buffer)
    data = buffer.getvalue()
    final = f'{out_prefix}-{hashlib.sha256(data).hexdigest()[:8]}.pth'
    with atomic_write(final, 'wb') as f:
        f.write(data)
    return final
