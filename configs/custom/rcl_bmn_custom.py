# RCL-BMN on your own videos (docs/custom_dataset.md): configs/rcl_bmn_anet.py
# with only the paths and the feature dimension changed. The features are
# those of tools/data/extract_features.py (here TSN ResNet-50 RGB, 2048-d,
# configs/feature_extraction/tsn_r50_rgb.py) under `feature_root`, the
# annotation files those of tools/data/prepare_custom_dataset.py under
# `data_root` (which also writes classes.json: pass it as the datasets'
# class_names to refuse unknown labels).
_base_ = ['../rcl_bmn_anet.py']

data_root = 'data/custom/'
feature_root = data_root + 'features/'
feature_ext = '.csv'
feat_dim = 2048
temporal_dim = 100

model = dict(backbone=dict(feat_dim=feat_dim))

# The base pipelines with this feature dimension (lists are replaced, not
# merged, so they are written out).
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
    dataset=dict(
        ann_file=data_root + 'anet_anno_train.json',
        data_prefix=dict(video=feature_root),
        feature_ext=feature_ext,
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        ann_file=data_root + 'anet_anno_val.json',
        data_prefix=dict(video=feature_root),
        feature_ext=feature_ext,
        pipeline=val_pipeline))
test_dataloader = val_dataloader

work_dir = './work_dirs/rcl_bmn_custom'
