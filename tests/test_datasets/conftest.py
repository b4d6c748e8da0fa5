# Copyright (c) rcl_mm contributors. All rights reserved.
"""Shared fixtures: a tiny annotation set and its synthetic features."""
import copy

import pytest

from rcl_mm.datasets import synthesize_features

# Five hand-made videos; v_train_b's features cover 96% of its frames, so
# its grid spans 96 s; v_val_b has two instances of different classes.
TINY_ANNOTATIONS = {
    'v_train_a': dict(
        duration_second=50.0, duration_frame=1500, feature_frame=1500,
        subset='training',
        annotations=[dict(segment=[10.0, 30.0], label='Archery')]),
    'v_train_b': dict(
        duration_second=100.0, duration_frame=2500, feature_frame=2400,
        subset='training',
        annotations=[
            dict(segment=[5.0, 20.0], label='Archery'),
            dict(segment=[60.0, 90.0], label='Ballet')
        ]),
    'v_train_c': dict(
        duration_second=20.0, duration_frame=600, feature_frame=600,
        subset='training',
        annotations=[dict(segment=[0.0, 20.0], label='Ballet')]),
    'v_val_a': dict(
        duration_second=40.0, duration_frame=1000, feature_frame=1008,
        subset='validation',
        annotations=[dict(segment=[12.0, 24.0], label='Ballet')]),
    'v_val_b': dict(
        duration_second=80.0, duration_frame=2000, feature_frame=2000,
        subset='validation',
        annotations=[
            dict(segment=[8.0, 16.0], label='Archery'),
            dict(segment=[40.0, 72.0], label='Ballet')
        ]),
}


@pytest.fixture
def tiny_annotations():
    """A fresh copy of the five-video annotation set."""
    return copy.deepcopy(TINY_ANNOTATIONS)


@pytest.fixture(scope='session')
def tiny_features(tmp_path_factory):
    """The tiny set synthesised once (seed 0) into a temporary folder."""
    out_dir = tmp_path_factory.mktemp('tiny_features')
    synthesize_features(copy.deepcopy(TINY_ANNOTATIONS), str(out_dir), seed=0)
    return out_dir
