# Copyright (c) rcl_mm contributors. All rights reserved.
"""How every command-line tool reports a user error.

A user error (a bad file, value, key or checkpoint) ends a tool with one
line on stderr and exit status 2, no traceback::

    error: <what> (<file, video or key>): <what to do>

``--debug`` on any tool, or ``RCL_MM_DEBUG=1`` in the environment, shows
the traceback instead. Every other exception is an internal error and
keeps its traceback (exit status 1).

What counts as a user error (:func:`is_user_error`):

* an exception whose class sets ``user_error = True``: :class:`UserError`
  and its subclasses, ``ConfigKeyError``, ``CheckpointMismatchError``, the
  evaluation's ``EvaluationInputError``;
* a ``ValueError``, ``KeyError`` or ``FileNotFoundError`` raised by an
  explicit check of rcl_mm or of a tool (the frame that raised it is in
  this package or in ``tools/``): those checks exist to name the file and
  the fix. The same class raised inside numpy, torch or matplotlib is an
  internal error (e.g. a plot value out of range);
* an ``OSError`` that names a file (missing, a folder, no permission),
  wherever it was raised.

This module uses the standard library only, so that
``tools/analysis/eval_detection.py`` runs without importing torch.
"""
import os
import os.path as osp
import sys
import traceback
from typing import Callable, Optional

#: Environment variable that shows tracebacks (any value but '' and '0').
DEBUG_ENV = 'RCL_MM_DEBUG'
#: Exit status of a user error (argparse uses it for bad arguments too).
USER_ERROR_STATUS = 2
#: Exit status when some of the videos (or files) of a loop failed.
PARTIAL_FAILURE_STATUS = 3

_PACKAGE_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))
_TOOLS_DIR = osp.join(osp.dirname(_PACKAGE_DIR), 'tools')


class UserError(Exception):
    """An error of the user's input, reported without a traceback.

    Args:
        what (str): What is wrong, or the whole message.
        where (str, optional): The file, video or key.
        fix (str, optional): What to do.
    """
    user_error = True

    def __init__(self, what: str, where: Optional[str] = None,
                 fix: Optional[str] = None) -> None:
        self.what, self.where, self.fix = what, where, fix
        super().__init__(format_user_error(what, where, fix))

    def __str__(self) -> str:
        return str(self.args[0])


class UserValueError(UserError, ValueError):
    """A bad value or file content (still a ``ValueError``)."""


class UserFileNotFoundError(UserError, FileNotFoundError):
    """A missing file (still a ``FileNotFoundError``)."""

    def __init__(self, what: str, where: Optional[str] = None,
                 fix: Optional[str] = None) -> None:
        UserError.__init__(self, what, where, fix)


def format_user_error(what: str, where: Optional[str] = None,
                      fix: Optional[str] = None) -> str:
    """``<what> (<where>): <fix>``; the parts that are given."""
    text = what
    if where:
        text += f' ({where})'
    if fix:
        text += f': {fix}'
    return text


def _raised_by_us(error: BaseException) -> bool:
    """Whether the frame that raised ``error`` is rcl_mm's or a tool's."""
    tb = error.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    path = osp.abspath(tb.tb_frame.f_code.co_filename)
    return any(path.startswith(d + os.sep) for d in (_PACKAGE_DIR,
                                                     _TOOLS_DIR))


def is_user_error(error: BaseException) -> bool:
    """Whether ``error`` is the user's (module doc), not a bug."""
    if getattr(error, 'user_error', False):
        return True
    if isinstance(error, OSError) and getattr(error, 'filename', None) \
            and not isinstance(error, (BlockingIOError, InterruptedError)):
        return True
    return isinstance(error, (ValueError, KeyError, FileNotFoundError)) \
        and _raised_by_us(error)


def describe(error: BaseException) -> str:
    """The message of a user error, for ``error: ...``."""
    if isinstance(error, OSError) and getattr(error, 'filename', None) \
            and not getattr(error, 'user_error', False) and error.strerror:
        return format_user_error(error.strerror, str(error.filename),
                                 'check the path and its permissions')
    if isinstance(error, KeyError) and not getattr(error, 'user_error',
                                                   False):
        # KeyError's str is the repr of its argument.
        return str(error.args[0]) if error.args else 'KeyError'
    return str(error)


def debug_requested(argv=None) -> bool:
    """``--debug`` among the arguments or :data:`DEBUG_ENV` set."""
    argv = sys.argv[1:] if argv is None else argv
    return '--debug' in argv or \
        os.environ.get(DEBUG_ENV, '') not in ('', '0')


def add_debug_argument(parser) -> None:
    """Add ``--debug`` (show tracebacks of user errors) to a parser."""
    parser.add_argument(
        '--debug', action='store_true',
        help=f'show the traceback of an input error (or set {DEBUG_ENV}=1)')


def print_error(message: str) -> None:
    """``error: <message>`` on stderr; later lines indented."""
    lines = message.strip().splitlines() or ['']
    print('error: ' + lines[0], file=sys.stderr)
    for line in lines[1:]:
        print('  ' + line.strip(), file=sys.stderr)
    sys.stderr.flush()


def run_tool(main: Callable[[], Optional[int]],
             cleanup: Optional[Callable[[], None]] = None) -> int:
    """Run a tool's ``main``; return its exit status.

    Use as ``sys.exit(run_tool(main))``. A user error prints
    ``error: ...`` and returns 2 (or re-raises with ``--debug``), as does
    ``sys.exit('message')`` in the tool; an internal error propagates
    with its traceback. ``cleanup`` (e.g.
    destroying the process group) runs in every case.

    Args:
        main (callable): Returns None (success) or an exit status.
        cleanup (callable, optional): Called after ``main``.

    Returns:
        int: ``main``'s status, 0 for None, or 2 for a user error.
    """
    try:
        try:
            status = main()
        finally:
            if cleanup is not None:
                cleanup()
    except SystemExit as error:
        if not isinstance(error.code, str):
            raise
        # sys.exit('message'): a tool's own one-line refusal.
        print_error(error.code)
        return USER_ERROR_STATUS
    except Exception as error:  # noqa: B902 (sorted below)
        if debug_requested() or not is_user_error(error):
            raise
        print_error(describe(error))
        return USER_ERROR_STATUS
    return 0 if status is None else int(status)


def report_failures(failures, total: int, kind: str = 'video') -> int:
    """Print the failed items of a loop and return the exit status.

    Args:
        failures (list[tuple[str, BaseException]]): ``(name, error)``.
        total (int): Items tried.
        kind (str): What an item is, for the summary.

    Returns:
        int: 0 if none failed, else :data:`PARTIAL_FAILURE_STATUS`.
    """
    if not failures:
        return 0
    print(f'error: {len(failures)} of {total} {kind}(s) failed; the others '
          'were written:', file=sys.stderr)
    for name, error in failures:
        text = describe(error) if is_user_error(error) else \
            ''.join(traceback.format_exception_only(type(error),
                                                    error)).strip()
        print(f'  {name}: {text.splitlines()[0] if text else ""}',
              file=sys.stderr)
    return PARTIAL_FAILURE_STATUS
