# Copyright (c) rcl_mm contributors. All rights reserved.
"""Install rcl_mm: ``pip install -e .`` (add ``[tests]`` for the tests)."""
import os
import os.path as osp
import re
import shutil
import sys

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))
# What openmim reads from an installed OpenMMLab package: rcl_mm/.mim holds
# the model index, the configs (with their metafiles) and the tools.
MIM_FILES = ('model-index.yml', 'configs', 'tools')


def read_version() -> str:
    """Read ``__version__`` from rcl_mm/version.py without importing it."""
    with open(osp.join(HERE, 'rcl_mm', 'version.py'), encoding='utf-8') as f:
        return re.search(r"__version__ = '([^']+)'", f.read()).group(1)


def parse_requirements(name: str) -> list:
    """Requirement lines of requirements/<name>, without comments."""
    lines = []
    path = osp.join(HERE, 'requirements', name)
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line and not line.startswith('-r'):
                lines.append(line)
    return lines


def readme() -> str:
    """The README, as the long description."""
    with open(osp.join(HERE, 'README.md'), encoding='utf-8') as f:
        return f.read()


def add_mim_extension() -> None:
    """Put ``MIM_FILES`` into ``rcl_mm/.mim``, as OpenMMLab packages do.

    Editable installs (``pip install -e .``, ``setup.py develop``) link to
    the files of the checkout, so edits show at once; building a wheel or
    an sdist (``pip install .``) copies them into the package. Other
    commands leave ``rcl_mm/.mim`` as it is.
    """
    if {'develop', 'editable_wheel'} & set(sys.argv):
        mode = 'symlink'
    elif {'sdist', 'bdist_wheel', 'install', 'build'} & set(sys.argv):
        mode = 'copy'
    else:
        return
    mim_path = osp.join(HERE, 'rcl_mm', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for name in MIM_FILES:
        src = osp.join(HERE, name)
        dst = osp.join(mim_path, name)
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_path), dst)
        elif osp.isdir(src):
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns(
                '__pycache__', '*.pyc'))
        else:
            shutil.copyfile(src, dst)


add_mim_extension()
setup(
    name='rcl_mm',
    version=read_version(),
    description='RCL: Recurrent Continuous Localization for temporal action '
    'detection, as an mmaction2 plugin',
    long_description=readme(),
    long_description_content_type='text/markdown',
    keywords='temporal action detection, action localization, mmaction2',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'docs')),
    include_package_data=True,
    python_requires='>=3.8',
    license='Apache License 2.0',
    install_requires=parse_requirements('runtime.txt'),
    extras_require={
        'tests': parse_requirements('tests.txt'),
        'optional': parse_requirements('optional.txt'),
        'mim': parse_requirements('mminstall.txt'),
    },
    classifiers=[
        'License :: OSI Approved :: Apache Software License',
        'Programming Language :: Python :: 3',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
    zip_safe=False)
