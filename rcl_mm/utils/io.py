# Copyright (c) rcl_mm contributors. All rights reserved.
"""Writing files so that an interrupted writer never leaves half a file."""
import contextlib
import os
import os.path as osp
import tempfile
from typing import IO, Iterator

from mmengine.fileio import LocalBackend, register_backend


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
        # plain open() would give them (the user's umask). Imported here:
        # rcl_mm.evaluation imports this module.
        from rcl_mm.evaluation.functional.io import file_mode
        os.chmod(tmp_path, file_mode())
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp_path)
        raise


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend, writing every file atomically.

    The Runner writes checkpoints, ``last_checkpoint`` and dumped results
    through ``put`` / ``put_text``; mmengine opens the final path directly,
    so a process killed while writing leaves half a file there. This backend
    writes through :func:`atomic_write` instead.
    """

    def put(self, obj: bytes, filepath) -> None:
        """Write bytes to ``filepath`` atomically (folders created)."""
        with atomic_write(str(filepath), 'wb') as f:
            f.write(obj)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        """Write text to ``filepath`` atomically (folders created)."""
        with atomic_write(str(filepath), 'wb') as f:
            f.write(obj.encode(encoding))


def use_atomic_local_backend() -> None:
    """Make :class:`AtomicLocalBackend` mmengine's backend for local paths.

    Backends that mmengine already built keep the old class, so this runs
    when rcl_mm is imported, before any Runner exists.
    """
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')
