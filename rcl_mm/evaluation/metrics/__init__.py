# Copyright (c) rcl_mm contributors. All rights reserved.
from .tad_metric import TADMetric

__all__ = ['TADMetric']
