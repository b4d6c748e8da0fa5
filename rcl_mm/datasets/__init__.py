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
from .thumos_annotations import (AMBIGUOUS, load_thumos_annotations,
                                 training_window_mask, window_ground_truth,
                                 window_starts)
from .thumos_feature_dataset import ThumosFeatureDataset, count_snippets
from .thumos_synthetic import synthesize_thumos_demo
from .transforms import (LoadSnippetFeature, LoadWindowFeature,
                         ResizeFeature, resize_feature)

__all__ = [
    'ActivityNetFeatureDataset', 'LoadSnippetFeature', 'ResizeFeature',
    'resize_feature', 'SignalConfig', 'direction', 'synthesize_features',
    'synthesize_video', 'synthesize_demo_dataset', 'DEMO_ANN_FILE',
    'read_video_subsets', 'select_demo_subset', 'SEGMENT_TOLERANCE',
    'atomic_write', 'check_video_info', 'corrected_duration',
    'load_class_names', 'load_json_strict', 'to_activitynet_gt',
    'ThumosFeatureDataset', 'LoadWindowFeature', 'AMBIGUOUS',
    'load_thumos_annotations', 'window_starts', 'training_window_mask',
    'window_ground_truth', 'count_snippets', 'synthesize_thumos_demo'
]
