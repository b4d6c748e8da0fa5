# Copyright (c) rcl_mm contributors. All rights reserved.
from .activitynet_feature_dataset import ActivityNetFeatureDataset
from .anet_annotations import (SEGMENT_TOLERANCE, atomic_write,
                               check_video_info, corrected_duration,
                               load_class_names, load_json_strict,
                               to_activitynet_gt)
from .demo_subset import read_video_subsets, select_demo_subset
from .synthetic import (DEMO_ANN_FILE, SignalConfig, direction,
                        synthesize_demo_dataset, synthesize_features,
                        synthesize_video)
from .transforms import LoadSnippetFeature, ResizeFeature, resize_feature

__all__ = [
    'ActivityNetFeatureDataset', 'LoadSnippetFeature', 'ResizeFeature',
    'resize_feature', 'SignalConfig', 'direction', 'synthesize_features',
    'synthesize_video', 'synthesize_demo_dataset', 'DEMO_ANN_FILE',
    'read_video_subsets', 'select_demo_subset', 'SEGMENT_TOLERANCE',
    'atomic_write', 'check_video_info', 'corrected_duration',
    'load_class_names', 'load_json_strict', 'to_activitynet_gt'
]
