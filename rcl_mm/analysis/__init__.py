# Copyright (c) rcl_mm contributors. All rights reserved.
"""Measurement libraries behind ``tools/analysis`` (the benchmark suite:
:mod:`rcl_mm.analysis.benchmark`).

Nothing is imported here: ``import rcl_mm`` does not import this package,
and importing it costs nothing until a submodule is used.
"""
