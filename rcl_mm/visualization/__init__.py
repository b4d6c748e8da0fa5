# Copyright (c) rcl_mm contributors. All rights reserved.
from .confidence_map import plot_confidence_map
from .timeline import plot_timeline

__all__ = ['plot_confidence_map', 'plot_timeline']
