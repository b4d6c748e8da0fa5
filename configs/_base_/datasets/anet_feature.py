# ActivityNet v1.3 snippet features in mmaction2's layout: one csv (or npy)
# of T x C per video under `data_root`, annotations in mmaction2's json.
dataset_type = 'ActivityNetFeatureDataset'
data_root = 'data/ActivityNet/activitynet_feature_cuhk/csv_mean_100/'
data_root_val = data_root
ann_file_train = 'data/ActivityNet/anet_anno_train.json'
ann_file_val = 'data/ActivityNet/anet_anno_val.json'
feature_ext = '.csv'
feat_dim = 400
temporal_dim = 100

train_pipeline = [
    dict(type='LoadSnippetFeature', feat_dim=feat_dim),
    dict(type='ResizeFeature', temporal_dim=temporal_dim),
    dict(type='GenerateLocalizationLabels'),
    dict(
        type='PackLocalizationInputs',
        keys=('gt_bbox', ),
        meta_keys=('video_name', ))
]
val_pipeline = [
    dict(type='LoadSnippetFeature', feat_dim=feat_dim),
    dict(type='ResizeFeature', temporal_dim=temporal_dim),
    dict(type='GenerateLocalizationLabels'),
    dict(
        type='PackLocalizationInputs',
        keys=('gt_bbox', ),
        meta_keys=('video_name', 'duration_second', 'duration_frame',
                   'annotations', 'feature_frame'))
]

train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    drop_last=True,
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_train,
        data_prefix=dict(video=data_root),
        feature_ext=feature_ext,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_val,
        data_prefix=dict(video=data_root_val),
        feature_ext=feature_ext,
        pipeline=val_pipeline,
        test_mode=True))
test_dataloader = val_dataloader

# Class-agnostic: AR@AN and AUC. For detection mAP, add 'detection' to
# `metric` and video-level class scores, e.g.
# class_scores=dict(file='data/ActivityNet/cuhk_val_simp_share.json',
# format='cuhk', top_k=2). `dump` is the official results JSON (relative
# paths go under work_dir; tools/test.py --out sets it).
val_evaluator = dict(
    type='TADMetric',
    metric=('proposal', ),
    dataset='activitynet',
    max_avg_proposals=100,
    dump='results.json')
test_evaluator = val_evaluator
