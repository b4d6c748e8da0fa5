# Copyright (c) rcl_mm contributors. All rights reserved.
"""Install rcl_mm: ``pip install -e .`` (add ``[tests]`` for the tests)."""
import os.path as osp
import re

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


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
