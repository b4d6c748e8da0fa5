# Copyright (c) rcl_mm contributors. All rights reserved.
from .inference import (detect_actions, detect_windowed, init_localizer,
                        iter_detections, list_feature_files,
                        load_video_features, window_settings)

__all__ = [
    'detect_actions', 'init_localizer', 'iter_detections',
    'list_feature_files', 'load_video_features', 'detect_windowed',
    'window_settings'
]
