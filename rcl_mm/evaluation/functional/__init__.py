# Copyright (c) rcl_mm contributors. All rights reserved.
"""Temporal action detection evaluation in plain numpy (no mmengine).

The numbers are those of the official ActivityNet evaluation code; see
docs/evaluation.md.
"""
from .breakdown import (COVERAGE_BINS, LENGTH_BINS, bin_index,
                        detad_breakdown, plot_breakdown)
from .detection import (ACTIVITYNET_TIOU_THRESHOLDS,
                        THUMOS14_TIOU_THRESHOLDS, class_average_precision,
                        default_tiou_thresholds, detection_map,
                        detection_summary, interpolated_ap, match_detections)
from .fusion import (THUMOS14_UCF101_ID, ClassScores, fuse_class_scores,
                     load_class_scores)
from .io import (SCORE_RANGE, EvaluationFileNotFoundError,
                 EvaluationInputError, GroundTruth, Predictions,
                 check_predictions, ground_truth_from_videos,
                 load_ground_truth, load_predictions,
                 predictions_from_results, results_json, strip_video_prefix,
                 video_rows, write_json_atomic)
from .proposal import AR_AN, ar_at_an, average_recall_vs_proposals
from .tiou import paired_segment_iou, segment_iou

__all__ = [
    'COVERAGE_BINS', 'LENGTH_BINS', 'THUMOS14_UCF101_ID', 'ClassScores',
    'bin_index', 'detad_breakdown', 'fuse_class_scores', 'load_class_scores',
    'plot_breakdown',
    'ACTIVITYNET_TIOU_THRESHOLDS', 'THUMOS14_TIOU_THRESHOLDS', 'AR_AN',
    'SCORE_RANGE', 'EvaluationFileNotFoundError', 'EvaluationInputError',
    'check_predictions', 'GroundTruth', 'Predictions', 'ar_at_an',
    'average_recall_vs_proposals',
    'class_average_precision', 'default_tiou_thresholds', 'detection_map',
    'detection_summary', 'ground_truth_from_videos', 'interpolated_ap',
    'load_ground_truth', 'load_predictions', 'match_detections',
    'paired_segment_iou', 'predictions_from_results', 'results_json',
    'segment_iou', 'strip_video_prefix', 'video_rows', 'write_json_atomic'
]
