# Copyright (c) rcl_mm contributors. All rights reserved.
from .loading import (LoadSnippetFeature, LoadWindowFeature, ResizeFeature,
                      resize_feature)

__all__ = [
    'LoadSnippetFeature', 'LoadWindowFeature', 'ResizeFeature',
    'resize_feature'
]
