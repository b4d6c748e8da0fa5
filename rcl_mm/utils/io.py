# Copyright (c) rcl_mm contributors. All rights reserved.
"""Writing files so that an interrupted writer never leaves half a file.

Standard library only: the numpy-only evaluation
(``rcl_mm.evaluation.functional``, which ``tools/analysis/eval_detection.py``
loads without torch or mmengine) writes through :func:`atomic_write` too.
mmengine's atomic file backend is in :mod:`rcl_mm.utils.file_backend`.
"""
import contextlib
import os
import os.path as osp
import tempfile
from typing import IO, Iterator


def file_mode() -> int:
    """The mode ``open(path, 'w')`` would give a new file: 0o666 less the
    process's umask (``mkstemp`` makes its files 0o600 instead)."""
    try:  # Linux: read without changing it (os.umask sets it).
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('Umask:'):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_write(path: str, mode: str = 'w') -> Iterator[IO]:
    """Open a temporary file next to ``path``; move it there on success.

    The temporary file lives in the same folder (created if missing), so
    ``os.replace`` is atomic, and is removed if the block raises: an
    interrupted writer never leaves a half-written ``path`` or a stray
    temporary file.

    Args:
        path (str): The final path.
        mode (str): ``'w'`` (text, UTF-8, ``\\n`` newlines) or ``'wb'``.

    Yields:
        IO: The open temporary file.
    """
    if mode not in ('w', 'wb'):
        raise ValueError(f'mode must be "w" or "wb", got {mode!r}')
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(
        dir=folder, prefix=f'.{osp.basename(path)}.', suffix='.tmp')
    try:
        if mode == 'w':
            handle = os.fdopen(fd, mode, encoding='utf-8', newline='\n')
        else:
            handle = os.fdopen(fd, mode)
        with handle:
            yield handle
        # mkstemp makes the file private (0600); outputs get the mode a
        # plain open() would give them (the user's umask).
        os.chmod(tmp_path, file_mode())
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp_path)
        raise
