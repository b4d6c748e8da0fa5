# Copyright (c) rcl_mm contributors. All rights reserved.
"""Run many tool invocations fast: each in its own process, forked from
one interpreter that has already imported the stack.

``python tools/x.py ARGS`` spends 3 to 8 s importing torch, mmengine,
mmaction2 and rcl_mm before the tool reads its first argument; a matrix of
bad inputs would spend minutes on imports. This server imports them once
(as the tools' first lines do) and forks a child per request; the child
runs the tool file as ``__main__`` with ``runpy`` (``sys.argv``,
``sys.path[0]`` and ``__file__`` as ``python`` sets them), with stdout and
stderr in files, and exits as the interpreter would: the status of
``SystemExit``, or the traceback of any other exception and status 1.

Protocol: one JSON request per stdin line, ``{"argv": [...], "cwd": ...,
"env": {...}, "out": path, "err": path}``; one line back with the exit
status.
"""
import json
import os
import runpy
import sys
import traceback


def _child(request):
    out = os.open(request['out'], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    err = os.open(request['err'], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.chdir(request['cwd'])
    os.environ.update(request.get('env') or {})
    tool = os.path.abspath(request['argv'][0])
    sys.argv = [tool] + request['argv'][1:]
    sys.path[0] = os.path.dirname(tool)
    status = 0
    try:
        runpy.run_path(tool, run_name='__main__')
    except SystemExit as exit_:
        code = exit_.code
        if isinstance(code, str):
            print(code, file=sys.stderr)
            status = 1
        else:
            status = 0 if code is None else int(code)
    except BaseException:  # noqa: B902  (as the interpreter reports it)
        traceback.print_exc()
        status = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def main():
    # What every tool but eval_detection.py imports first.
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot  # noqa: F401
    import mmengine.runner  # noqa: F401
    import torch  # noqa: F401

    import rcl_mm  # noqa: F401
    import rcl_mm.apis  # noqa: F401
    print('ready', flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), flush=True)


if __name__ == '__main__':
    main()
