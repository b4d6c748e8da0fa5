# Copyright (c) rcl_mm contributors. All rights reserved.
"""What the dependency stack needs, applied where it is asked for.

``import rcl_mm`` does one thing here, :func:`patch_missing_drn`, without
which mmaction2 1.2.0 cannot be imported at all. Everything else changes
behaviour beyond rcl_mm and is applied only when asked for: by our tools
(``tools/*.py`` call :func:`apply_stack_fixes`), by
:class:`rcl_mm.engine.StackFixesHook` in a config's ``custom_hooks`` (our
configs have it; a user's mmaction2 config opts in the same way), or
scoped to one load by :func:`mmengine_checkpoint_globals`.

* The mmaction2 1.2.0 wheel lacks ``mmaction/models/localizers/drn/`` while
  ``mmaction/models/localizers/__init__.py`` imports it, so
  ``import mmaction.models`` fails. We register a placeholder module whose
  ``DRN`` raises a clear error if anyone builds it.
* torch >= 2.6 loads checkpoints with ``weights_only=True``; mmengine
  checkpoints hold a few plain Python / numpy / mmengine objects (the message
  hub's history buffers, numpy scalars) that the safe unpickler refuses, so
  ``resume`` and ``load_from`` fail. :func:`allow_mmengine_checkpoints`
  allows exactly those types, which keeps the safe unpickler on instead of
  turning it off. A history buffer pickles its statistics functions as
  ``getattr(HistoryBuffer, 'min')``, and allowing ``getattr`` would let any
  checkpoint call anything; so buffers written after it are pickled as their
  data only and rebuilt by :func:`rebuild_history_buffer`.
* mmengine writes checkpoints, ``last_checkpoint`` and dumped results by
  opening the final path, so a killed process leaves half a file;
  :func:`rcl_mm.utils.file_backend.use_atomic_local_backend` makes those
  writes atomic.
"""
import contextlib
import copyreg
import importlib.metadata
import importlib.util
import os.path as osp
import sys
import types
from typing import Iterator, Optional

import numpy as np
import torch

_DRN_MODULE = 'mmaction.models.localizers.drn'


class _MissingDRN:
    """Placeholder for mmaction2's DRN, absent from the 1.2.0 wheel."""

    def __init__(self, *args, **kwargs):
        raise ImportError(
            'mmaction2 1.2.0 as published lacks '
            'mmaction/models/localizers/drn; install mmaction2 from source '
            'to use DRN. rcl_mm registered this placeholder so that the rest '
            'of mmaction.models imports.')


def multimodal_importable(transformers_version: Optional[str]) -> bool:
    """Whether mmaction2 1.2.0's multimodal models import with this
    transformers (``None``: not installed).

    mmaction2 imports them whenever transformers >= 4.28 is installed, and
    they fail to import with the transformers 5 releases, which removed
    the APIs they use.
    """
    if transformers_version is None:
        return False
    major = transformers_version.split('.', 1)[0]
    return not (major.isdigit() and int(major) >= 5)


def skip_incompatible_multimodal() -> bool:
    """Keep ``import mmaction.models`` from importing mmaction2's
    multimodal models where the installed transformers breaks them
    (:func:`multimodal_importable`); they stay registered as placeholders
    that ask for a compatible transformers.

    Returns:
        bool: True if mmaction2's ``WITH_MULTIMODAL`` was switched off.
    """
    try:
        version = importlib.metadata.version('transformers')
    except importlib.metadata.PackageNotFoundError:
        return False
    if multimodal_importable(version):
        return False
    from mmaction.utils import dependency
    if not dependency.WITH_MULTIMODAL or 'mmaction.models' in sys.modules:
        return False
    dependency.WITH_MULTIMODAL = False
    return True


def patch_missing_drn() -> bool:
    """Make ``import mmaction.models`` work: put a placeholder ``drn``
    package in ``sys.modules`` if it is missing (and skip mmaction2's
    multimodal models where transformers breaks them,
    :func:`skip_incompatible_multimodal`).

    Returns:
        bool: True if the placeholder was installed.
    """
    skip_incompatible_multimodal()
    if _DRN_MODULE in sys.modules:
        return False
    # Looked up on disk: finding the module's spec would import
    # mmaction.models, which fails without it.
    spec = importlib.util.find_spec('mmaction')
    if spec is None or any(
            osp.isdir(osp.join(folder, 'models', 'localizers', 'drn'))
            for folder in spec.submodule_search_locations or ()):
        return False
    package = types.ModuleType(_DRN_MODULE)
    package.__path__ = []
    submodule = types.ModuleType(_DRN_MODULE + '.drn')
    submodule.DRN = _MissingDRN
    package.drn = submodule
    package.DRN = _MissingDRN
    sys.modules[_DRN_MODULE] = package
    sys.modules[_DRN_MODULE + '.drn'] = submodule
    return True


def rebuild_history_buffer(log_history: np.ndarray,
                           count_history: np.ndarray, max_length: int):
    """Rebuild an mmengine ``HistoryBuffer`` from its data (unpickling)."""
    from mmengine.logging import HistoryBuffer
    return HistoryBuffer(log_history, count_history, max_length)


def _reduce_history_buffer(buffer) -> tuple:
    """Pickle a ``HistoryBuffer`` as its data, not its method table."""
    log_history, count_history = buffer.data
    return rebuild_history_buffer, (log_history, count_history,
                                    buffer.max_length)


def checkpoint_safe_globals() -> list:
    """Types that mmengine writes into checkpoints besides tensors."""
    from mmengine.logging import HistoryBuffer
    numpy_core = np._core if hasattr(np, '_core') else np.core
    safe = [
        HistoryBuffer,
        rebuild_history_buffer,
        np.ndarray,
        np.dtype,
        numpy_core.multiarray._reconstruct,
        numpy_core.multiarray.scalar,
    ]
    # numpy >= 1.25 pickles dtypes as instances of classes in np.dtypes.
    safe += [
        getattr(np.dtypes, name) for name in dir(np.dtypes)
        if name.endswith('DType')
    ]
    return safe


@contextlib.contextmanager
def mmengine_checkpoint_globals() -> Iterator[None]:
    """Let ``torch.load(weights_only=True)`` read mmengine checkpoints
    inside the block only (nothing changes for the rest of the process)."""
    safe_globals = getattr(torch.serialization, 'safe_globals', None)
    if safe_globals is None:  # torch < 2.5 loads everything anyway
        yield
        return
    with safe_globals(checkpoint_safe_globals()):
        yield


def allow_mmengine_checkpoints() -> None:
    """Let ``torch.load(weights_only=True)`` read mmengine checkpoints, in
    the whole process, and write history buffers as their data."""
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:  # torch < 2.4 loads everything anyway
        return
    from mmengine.logging import HistoryBuffer
    copyreg.pickle(HistoryBuffer, _reduce_history_buffer)
    add_safe_globals(checkpoint_safe_globals())


def apply_stack_fixes() -> None:
    """Atomic local writes and mmengine checkpoints under torch >= 2.6.

    Changes the whole process (mmengine's ``local`` file backend, torch's
    safe globals, the pickling of ``HistoryBuffer``), so it runs only where
    asked for: in our tools, or by :class:`rcl_mm.engine.StackFixesHook`.
    Safe to call more than once.
    """
    from .file_backend import use_atomic_local_backend
    use_atomic_local_backend()
    allow_mmengine_checkpoints()
