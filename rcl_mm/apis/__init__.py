# Copyright (c) rcl_mm contributors. All rights reserved.
from .feature_extraction import (FeatureExtractor, extract_features_to,
                                 extract_video_features,
                                 init_feature_extractor, list_videos,
                                 measure_extraction_throughput)
from .inference import (detect_actions, detect_windowed, init_localizer,
                        iter_detections, list_feature_files,
                        load_video_features, window_settings)

__all__ = [
    'detect_actions', 'init_localizer', 'iter_detections',
    'list_feature_files', 'load_video_features', 'detect_windowed',
    'window_settings', 'FeatureExtractor', 'init_feature_extractor',
    'extract_video_features', 'extract_features_to', 'list_videos',
    'measure_extraction_throughput'
]
