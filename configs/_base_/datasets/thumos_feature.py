# THUMOS14 snippet features (e.g. TSN, 2048-d, one snippet every 5 frames)
# in sliding windows of 256 snippets: one T x C .npy (or csv with a header
# row) per video under `feature_root`, the THUMOS14 annotation csv files
# (validation set for training, test set for testing) and UntrimmedNet's
# video-level class scores for the fusion. See docs/thumos.md.
dataset_type = 'ThumosFeatureDataset'
data_root = 'data/thumos14/'
feature_root = data_root + 'features/'
ann_file_train = data_root + 'val_Annotation.csv'
ann_file_val = data_root + 'test_Annotation.csv'
class_score_file = data_root + 'uNet_test.npy'
# Optional {video: {"num_snippets": N, "fps": F}}; without it the number
# of snippets is the feature file's row count and every video is at `fps`.
video_info_file = None
feature_ext = '.npy'
feat_dim = 2048
window_size = 256
# G-TAD's windows: stride 128 snippets in training and testing.
window_overlap_train = 128
window_overlap_test = 128
snippet_stride = 5
fps = 30.0
# The two test videos that G-TAD's evaluation file (thumos_gt.json, 210
# videos) leaves out; video_test_0001292 (ambiguous instances only) is
# left out by the dataset itself.
exclude_test_videos = ('video_test_0000270', 'video_test_0001496')

dataset_args = dict(
    type=dataset_type,
    data_prefix=dict(video=feature_root),
    feature_ext=feature_ext,
    window_size=window_size,
    snippet_stride=snippet_stride,
    fps=fps,
    video_info_file=video_info_file)

train_pipeline = [
    dict(type='LoadWindowFeature', feat_dim=feat_dim),
    dict(
        type='PackLocalizationInputs',
        keys=('gt_bbox', ),
        meta_keys=('video_name', 'window_start'))
]
val_pipeline = [
    dict(type='LoadWindowFeature', feat_dim=feat_dim),
    dict(
        type='PackLocalizationInputs',
        keys=('gt_bbox', ),
        meta_keys=('video_name', 'window_start', 'valid_length',
                   'num_snippets', 'snippet_seconds', 'duration_second',
                   'annotations'))
]

train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    drop_last=True,
    dataset=dict(
        dataset_args,
        ann_file=ann_file_train,
        window_overlap=window_overlap_train,
        # Keep a window if an instance has >= 90% of its length inside.
        min_inside=0.9,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        dataset_args,
        ann_file=ann_file_val,
        window_overlap=window_overlap_test,
        exclude_videos=exclude_test_videos,
        pipeline=val_pipeline,
        test_mode=True))
test_dataloader = val_dataloader

# The windows of each video are merged (all ranks), suppressed by
# Gaussian Soft-NMS (alpha 0.3, 200 per video), labelled with the video's
# top-2 UntrimmedNet classes (score = proposal x class score) and
# evaluated with THUMOS14 mAP at tIoU 0.3:0.1:0.7. `dump` is the official
# results JSON (relative paths go under work_dir).
val_evaluator = dict(
    type='TADMetric',
    metric=('detection', ),
    dataset='thumos14',
    class_scores=dict(file=class_score_file, format='thumos_npy', top_k=2),
    merge_windows=dict(
        soft_nms_alpha=0.3,
        soft_nms_low_threshold=0.,
        soft_nms_high_threshold=0.,
        top_k=200),
    dump='results.json')
test_evaluator = val_evaluator
