# Copyright (c) rcl_mm contributors. All rights reserved.
"""mmengine's local file backend, writing through :func:`atomic_write`."""
from mmengine.fileio import LocalBackend, register_backend

from .io import atomic_write


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
