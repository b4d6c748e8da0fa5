# Copyright (c) rcl_mm contributors. All rights reserved.
from .timeline import plot_timeline

__all__ = ['plot_timeline']
