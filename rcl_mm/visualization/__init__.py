# Copyright (c) rcl_mm contributors. All rights reserved.
from .timeline import plot_timeline, write_bytes_atomic

__all__ = ['plot_timeline', 'write_bytes_atomic']
