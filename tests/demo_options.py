# Copyright (c) rcl_mm contributors. All rights reserved.
"""``--cfg-options`` that point a demo config's data loaders at test data,
for the tests that run tools/train.py or tools/test.py."""


def dataloader_options(data_dir, batch_size, features='npy'):
    """Options for the train, val and test loaders: annotations and
    features under ``data_dir`` (``features``: ``'npy'``, or the csv folder
    ``'csv_mean_100'``), no worker processes, ``batch_size`` videos."""
    options = []
    for split, ann in (('train', 'train'), ('val', 'val'), ('test', 'val')):
        key = f'{split}_dataloader'
        options += [
            f'{key}.dataset.ann_file={data_dir}/anet_anno_{ann}.json',
            f'{key}.dataset.data_prefix.video={data_dir}/{features}'
        ]
        if features == 'npy':
            options.append(f'{key}.dataset.feature_ext=.npy')
        options += [
            f'{key}.num_workers=0', f'{key}.persistent_workers=False',
            f'{key}.batch_size={batch_size}'
        ]
    return options
