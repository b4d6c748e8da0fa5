# Copyright (c) rcl_mm contributors. All rights reserved.
from .loading import LoadSnippetFeature, ResizeFeature, resize_feature

__all__ = ['LoadSnippetFeature', 'ResizeFeature', 'resize_feature']
