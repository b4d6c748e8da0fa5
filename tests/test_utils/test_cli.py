# Copyright (c) rcl_mm contributors. All rights reserved.
"""rcl_mm.utils.cli: which errors are the user's, and how they end a
tool."""
import json
import os

import numpy as np
import pytest

from rcl_mm.evaluation.functional import load_predictions, write_json_atomic
from rcl_mm.utils.cli import (USER_ERROR_STATUS, UserError,
                              UserFileNotFoundError, is_user_error,
                              report_failures, run_tool)
from rcl_mm.utils.io import atomic_write


def _raised(fn):
    try:
        fn()
    except Exception as error:  # noqa: B902
        return error
    raise AssertionError('nothing raised')


def test_user_error_format():
    assert str(UserError('bad thing', 'f.json', 'fix it')) == \
        'bad thing (f.json): fix it'
    assert str(UserError('whole message')) == 'whole message'
    error = UserFileNotFoundError('config file not found', 'c.py', 'check')
    assert isinstance(error, FileNotFoundError) and is_user_error(error)


def test_which_errors_are_the_users(tmp_path):
    # An explicit check of ours: the user's.
    bad = tmp_path / 'r.json'
    bad.write_text('{"results": {"v": [{"segment": [2, 1], "score": 0.5}]}}')
    assert is_user_error(_raised(lambda: load_predictions(str(bad))))
    # The same class raised inside numpy (a bug of ours if it escapes):
    # not the user's, it keeps its traceback.
    assert not is_user_error(_raised(lambda: np.ones(3).reshape(2)))
    assert not is_user_error(_raised(lambda: {}['key']))
    assert not is_user_error(RuntimeError('internal'))
    # A file the OS refuses, wherever: the user's.
    assert is_user_error(_raised(lambda: open(tmp_path / 'none')))


def test_run_tool_statuses(capsys):
    def user():
        raise UserError('bad value', '--x', 'use another')

    assert run_tool(user) == USER_ERROR_STATUS
    assert capsys.readouterr().err == 'error: bad value (--x): use another\n'

    def message():
        raise SystemExit('refused\nbecause')

    assert run_tool(message) == USER_ERROR_STATUS
    assert capsys.readouterr().err == 'error: refused\n  because\n'
    assert run_tool(lambda: None) == 0
    assert run_tool(lambda: 3) == 3
    cleaned = []
    with pytest.raises(ZeroDivisionError):
        run_tool(lambda: 1 / 0, cleanup=lambda: cleaned.append(1))
    assert cleaned == [1]


def test_debug_reraises(monkeypatch):
    monkeypatch.setenv('RCL_MM_DEBUG', '1')
    with pytest.raises(UserError):
        run_tool(lambda: (_ for _ in ()).throw(UserError('x')))


def test_report_failures(capsys):
    assert report_failures([], 4) == 0
    status = report_failures([('a.npy', UserError('bad', 'a.npy', 'fix')),
                              ('b.npy', RuntimeError('bug'))], 4)
    assert status == 3
    assert capsys.readouterr().err.splitlines() == [
        'error: 2 of 4 video(s) failed; the others were written:',
        '  a.npy: bad (a.npy): fix', '  b.npy: RuntimeError: bug']


def test_outputs_get_the_users_umask(tmp_path):
    old = os.umask(0o027)
    try:
        with atomic_write(str(tmp_path / 'a.txt')) as f:
            f.write('x')
        write_json_atomic(str(tmp_path / 'b.json'), {'a': 1})
    finally:
        os.umask(old)
    for name in ('a.txt', 'b.json'):
        assert os.stat(tmp_path / name).st_mode & 0o777 == 0o640
    assert json.load(open(tmp_path / 'b.json')) == {'a': 1}
