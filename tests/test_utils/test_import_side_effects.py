# Copyright (c) rcl_mm contributors. All rights reserved.
"""``import rcl_mm`` registers modules and nothing else; the process-wide
fixes come only when asked for (tools, StackFixesHook)."""
import subprocess
import sys
import textwrap

# Runs in a fresh interpreter: the dependency stack is imported first (with
# the drn placeholder the mmaction2 1.2.0 wheel needs), its state recorded,
# then rcl_mm imported and the state compared.
SCRIPT = textwrap.dedent('''
    import copyreg, json, sys, types, warnings

    name = 'mmaction.models.localizers.drn'
    sys.modules[name] = types.ModuleType(name)
    sys.modules[name].__path__ = []
    sys.modules[name + '.drn'] = types.ModuleType(name + '.drn')
    sys.modules[name + '.drn'].DRN = object
    import mmaction.datasets, mmaction.evaluation, mmaction.models  # noqa
    import mmaction.visualization, mmengine.runner  # noqa
    import matplotlib, scipy.optimize, terminaltables, torch  # noqa
    from mmengine.fileio.backends import registry_utils
    from mmengine.logging import HistoryBuffer

    def state():
        return dict(
            filters=[repr(f) for f in warnings.filters],
            backends={k: repr(v) for k, v in registry_utils.backends.items()},
            prefixes={k: repr(v) for k, v in
                      registry_utils.prefix_to_backends.items()},
            pickled_by_copyreg=HistoryBuffer in copyreg.dispatch_table,
            safe_globals=sorted(
                repr(g) for g in torch.serialization.get_safe_globals()))

    before = state()
    import rcl_mm  # noqa
    after_import = state()
    from rcl_mm.engine import StackFixesHook
    StackFixesHook().before_run(None)
    after_hook = state()
    print(json.dumps([before, after_import, after_hook]))
''')


def test_import_changes_nothing_and_the_hook_applies_the_fixes():
    out = subprocess.run([sys.executable, '-c', SCRIPT], capture_output=True,
                         text=True, check=True)
    before, after_import, after_hook = __import__('json').loads(
        out.stdout.strip().splitlines()[-1])
    # import rcl_mm: mmengine's file backends, the warning filters, torch's
    # safe globals and pickling are exactly as the stack left them.
    assert after_import == before
    # StackFixesHook (and apply_stack_fixes, which it calls) changes them.
    assert 'AtomicLocalBackend' in after_hook['backends']['local']
    assert 'AtomicLocalBackend' not in before['backends']['local']
    assert after_hook['pickled_by_copyreg'] and \
        not before['pickled_by_copyreg']
    added = set(after_hook['safe_globals']) - set(before['safe_globals'])
    assert any('HistoryBuffer' in g for g in added)
    assert after_hook['filters'] == before['filters']


def test_import_prints_no_warning():
    """mmcv-lite's MultiScaleDeformableAttention warning, raised while
    rcl_mm imports mmaction2, is filtered for that import only."""
    out = subprocess.run([
        sys.executable, '-W', 'ignore:pkg_resources:UserWarning', '-c',
        'import warnings, rcl_mm\n'
        'warnings.warn("Fail to import ``MultiScaleDeformableAttention`` '
        'again")'
    ], capture_output=True, text=True, check=True)
    # Only the warning raised after the import shows: the filter was
    # scoped to the import.
    assert out.stderr.count('MultiScaleDeformableAttention') == 1, out.stderr
    assert 'again' in out.stderr
