# What every THUMOS-like demo config shares: synthetic 64-d features on real
# THUMOS14 timelines (tools/data/synthesize_thumos.py writes them to
# data/demo_thumos/data), windows of 128 snippets (1/6 s each) with a map
# of 32 durations, the real UntrimmedNet class scores, and a short
# schedule (6 epochs and the test in under a minute on 2 CPU cores). A
# demo config adds its model base and a small model.
_base_ = [
    'datasets/thumos_feature.py', 'schedules/adam_9e.py',
    'default_runtime.py'
]
demo_root = 'data/demo_thumos/data/'
feat_dim = 64
window_size = 128
duration_dim = 32

max_epochs = 6
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[5], gamma=0.1)
]
optim_wrapper = dict(optimizer=dict(lr=0.002))

demo_dataset = dict(
    data_prefix=dict(video=demo_root + 'features'),
    video_info_file=demo_root + 'video_info.json',
    window_size=window_size,
    pipeline=[
        dict(type='LoadWindowFeature', feat_dim=feat_dim),
        dict(
            type='PackLocalizationInputs',
            keys=('gt_bbox', ),
            meta_keys=('video_name', 'window_start', 'valid_length',
                       'num_snippets', 'snippet_seconds', 'duration_second',
                       'annotations'))
    ])
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    dataset=dict(
        demo_dataset,
        ann_file=demo_root + 'train_Annotation.csv',
        window_overlap=64))
val_dataloader = dict(
    batch_size=8,
    num_workers=1,
    dataset=dict(
        demo_dataset,
        ann_file=demo_root + 'test_Annotation.csv',
        window_overlap=64))
test_dataloader = val_dataloader
val_evaluator = dict(
    class_scores=dict(
        file='data/demo_thumos/annotations/uNet_test.npy'))
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(save_best=None, max_keep_ckpts=1))
randomness = dict(seed=0)
