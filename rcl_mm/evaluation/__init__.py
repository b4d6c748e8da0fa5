# Copyright (c) rcl_mm contributors. All rights reserved.
"""Evaluation: plain-numpy functions and the in-loop metric."""
from .metrics import TADMetric  # noqa: F401

__all__ = ['TADMetric']
