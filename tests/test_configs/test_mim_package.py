# Copyright (c) rcl_mm contributors. All rights reserved.
"""openmim reads ``<package>/.mim/model-index.yml`` of the installed rcl_mm;
setup.py puts the index, the metafiles and the configs there."""
import glob
import importlib.resources
import os.path as osp
import shutil
import subprocess
import sys
import zipfile

import pytest
import yaml

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def models_of(read):
    """``{model name: config path}`` of an index, ``read(path) -> text``
    with paths relative to the index's folder (as openmim resolves them)."""
    models = {}
    for metafile in yaml.safe_load(read('model-index.yml'))['Import']:
        for model in yaml.safe_load(read(metafile))['Models']:
            models[model['Name']] = model['Config']
    return models


def test_installed_package_holds_the_whole_index():
    mim = importlib.resources.files('rcl_mm') / '.mim'

    def read(path):
        return (mim / path).read_text(encoding='utf-8')

    installed = models_of(read)
    # Every model of the checkout's index, each config readable there too.
    expected = models_of(
        lambda p: open(osp.join(ROOT, p), encoding='utf-8').read())
    assert installed == expected and len(installed) >= 16
    for config in installed.values():
        assert (mim / config).is_file(), config
    assert (mim / 'tools' / 'train.py').is_file()


def test_wheel_ships_index_metafiles_and_configs(tmp_path):
    """``pip install .`` (a wheel) copies them into the package."""
    src = tmp_path / 'src'
    src.mkdir()
    for name in ('setup.py', 'setup.cfg', 'MANIFEST.in', 'README.md',
                 'requirements.txt', 'model-index.yml'):
        shutil.copy(osp.join(ROOT, name), src / name)
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc', '.mim')
    for name in ('requirements', 'rcl_mm', 'configs', 'tools'):
        shutil.copytree(osp.join(ROOT, name), src / name, ignore=ignore)
    subprocess.run([
        sys.executable, '-m', 'pip', 'wheel', '--no-deps',
        '--no-build-isolation', '-q', '-w', str(tmp_path / 'dist'),
        str(src)
    ], check=True, capture_output=True)
    (wheel, ) = glob.glob(str(tmp_path / 'dist' / 'rcl_mm-*.whl'))
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())

        def read(path):
            return z.read(f'rcl_mm/.mim/{path}').decode('utf-8')

        models = models_of(read)
    assert len(models) >= 16
    for config in models.values():
        assert f'rcl_mm/.mim/{config}' in names, config
    # Every config (bases included), so that each one loads.
    for config in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                            recursive=True):
        assert 'rcl_mm/.mim/' + osp.relpath(config, ROOT) in names


def test_mim_finds_the_index_of_an_editable_checkout():
    """openmim 0.3.9's lookup (``get_installed_path``: the distribution's
    location joined with the package name, then ``.mim/model-index.yml``
    in it), run from the checkout's root as ``python -m mim`` runs it."""
    if not osp.isdir(osp.join(ROOT, 'rcl_mm.egg-info')):
        pytest.skip('rcl_mm is not installed in editable mode here')
    code = ('import os.path as osp, warnings\n'
            'warnings.simplefilter("ignore")\n'
            'import pkg_resources\n'
            'dist = pkg_resources.get_distribution("rcl_mm")\n'
            'print(osp.join(dist.location, "rcl_mm", ".mim", '
            '"model-index.yml"))\n')
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()
    assert osp.realpath(osp.dirname(osp.dirname(osp.dirname(out)))) == \
        osp.realpath(ROOT)
    with open(out, encoding='utf-8') as f:
        assert 'configs/metafiles/' in f.read()
