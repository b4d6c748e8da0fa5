# Copyright (c) rcl_mm contributors. All rights reserved.
import numpy as np
import pytest

from rcl_mm.datasets.transforms import (LoadSnippetFeature, ResizeFeature,
                                        resize_feature)
from rcl_mm.registry import TRANSFORMS


def write_csv(path, array, header=True):
    """mmaction2's csv layout: header row, then T rows of C values."""
    with open(path, 'w') as f:
        if header:
            f.write(','.join(f'f{i}' for i in range(array.shape[-1])) + '\n')
        for row in np.atleast_2d(array):
            f.write(','.join(repr(float(v)) for v in row) + '\n')
    return str(path)


def load(path, video='v_test', **kwargs):
    """Run LoadSnippetFeature on one file."""
    return LoadSnippetFeature(**kwargs).transform(
        dict(feature_path=str(path), video_name=video))


@pytest.fixture
def feature():
    """A T x C = 6 x 4 array with distinct values."""
    return np.arange(24, dtype=np.float32).reshape(6, 4) / 8 - 1


def test_csv_and_npy_give_c_by_t_float32(tmp_path, feature):
    np.save(tmp_path / 'a.npy', feature.astype(np.float64))
    csv = write_csv(tmp_path / 'a.csv', feature)
    for path in (csv, tmp_path / 'a.npy'):
        results = load(path, feat_dim=4, min_snippets=6)
        raw = results['raw_feature']
        assert raw.shape == (4, 6)
        assert raw.dtype == np.float32
        np.testing.assert_array_equal(raw, feature.T)


def test_single_snippet_csv_stays_2d(tmp_path, feature):
    csv = write_csv(tmp_path / 'one.csv', feature[:1])
    assert load(csv)['raw_feature'].shape == (4, 1)


def test_built_from_the_registry():
    transform = TRANSFORMS.build(
        dict(type='LoadSnippetFeature', feat_dim=400, min_snippets=2))
    assert isinstance(transform, LoadSnippetFeature)
    assert repr(transform) == ('LoadSnippetFeature(feat_dim=400, '
                               'min_snippets=2)')


def test_missing_file_names_file_and_video(tmp_path):
    with pytest.raises(FileNotFoundError,
                       match=r'missing\.csv \(video v_gone\) does not exist'):
        load(tmp_path / 'missing.csv', video='v_gone')


def test_unknown_extension(tmp_path):
    with pytest.raises(ValueError, match=r'a\.txt \(video v_test\).*"\.txt"'):
        load(tmp_path / 'a.txt')


def test_wrong_feature_dim(tmp_path, feature):
    np.save(tmp_path / 'a.npy', feature)
    with pytest.raises(ValueError,
                       match=r'a\.npy \(video v_dim\) has 4 channels.*'
                       r'feat_dim=400'):
        load(tmp_path / 'a.npy', video='v_dim', feat_dim=400)


def test_transposed_file_is_recognised(tmp_path, feature):
    np.save(tmp_path / 'a.npy', feature.T)
    with pytest.raises(ValueError, match='looks transposed'):
        load(tmp_path / 'a.npy', feat_dim=4)


def test_too_few_snippets(tmp_path, feature):
    np.save(tmp_path / 'a.npy', feature)
    with pytest.raises(ValueError,
                       match=r'a\.npy \(video v_short\) has 6 snippet\(s\), '
                       'fewer than min_snippets=100'):
        load(tmp_path / 'a.npy', video='v_short', min_snippets=100)


@pytest.mark.parametrize('text', ['f0,f1\n', ''])
def test_header_only_or_empty_csv_has_no_snippet(tmp_path, text):
    # A 0-byte csv reads as 0 x 1: it was reported as 1 channel.
    path = tmp_path / 'empty.csv'
    path.write_text(text)
    with pytest.raises(ValueError, match=r'empty\.csv .* holds no snippet '
                       r'\(the file is empty or has only its header row\)'):
        load(path, feat_dim=400)


@pytest.mark.parametrize('value', [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize('ext', ['.csv', '.npy'])
def test_non_finite_values_name_the_snippet(tmp_path, feature, value, ext):
    feature[3, 1] = value
    feature[5, 0] = value
    path = tmp_path / f'bad{ext}'
    if ext == '.npy':
        np.save(path, feature)
    else:
        write_csv(path, feature)
    with pytest.raises(ValueError,
                       match=r'\(video v_nan\) has NaN or Inf values at '
                       r'snippet index\(es\) 3, 5;'):
        load(path, video='v_nan')


@pytest.mark.parametrize('shape', [(24, ), (2, 3, 4)])
def test_not_2d(tmp_path, shape):
    np.save(tmp_path / 'a.npy', np.zeros(shape, np.float32))
    with pytest.raises(ValueError,
                       match=r'a\.npy \(video v_test\) holds an array of '
                       rf'shape \({shape[0]},.*expected 2-D'):
        load(tmp_path / 'a.npy')


def test_unparsable_csv(tmp_path):
    path = tmp_path / 'garbage.csv'
    path.write_text('f0,f1\n1.0,abc\n')
    with pytest.raises(ValueError, match=r'garbage\.csv .*could not be read'):
        load(path)


def test_csv_without_header_loses_a_row_like_mmaction(tmp_path, feature):
    """The first row is always the header, as in mmaction2."""
    csv = write_csv(tmp_path / 'a.csv', feature, header=False)
    np.testing.assert_array_equal(load(csv)['raw_feature'], feature[1:].T)


def test_pickled_npy_is_refused(tmp_path):
    np.save(tmp_path / 'a.npy', np.array([{'a': 1}], dtype=object))
    with pytest.raises(ValueError, match=r'a\.npy .*could not be read'):
        load(tmp_path / 'a.npy')


def test_resize_downsample_hand_computed():
    # T_in = 4 -> 2: p = (j + 0.5) * 2 - 0.5 = 0.5, 2.5.
    x = np.array([[0., 1., 2., 3.], [0., 10., 0., 10.]], np.float32)
    np.testing.assert_allclose(
        resize_feature(x, 2), [[0.5, 2.5], [5., 5.]])


def test_resize_upsample_hand_computed():
    # T_in = 2 -> 5: p = (j + 0.5) * 0.4 - 0.5 = -0.3, 0.1, 0.5, 0.9, 1.3,
    # clamped to 0, 0.1, 0.5, 0.9, 1.
    x = np.array([[0., 10.]], np.float32)
    out = resize_feature(x, 5)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0., 1., 5., 9., 10.]], atol=1e-6)


def test_resize_single_snippet_is_repeated():
    np.testing.assert_array_equal(
        resize_feature(np.array([[2.], [3.]]), 3), [[2., 2., 2.],
                                                    [3., 3., 3.]])


def test_resize_identity_and_transform():
    x = np.random.default_rng(0).standard_normal((3, 7)).astype(np.float32)
    results = ResizeFeature(temporal_dim=7).transform(dict(raw_feature=x))
    assert results['raw_feature'] is x
    assert results['num_snippets'] == 7

    # Linear in time, so interpolation is exact: output j reads position
    # clip(j / 2 - 0.25, 0, 6).
    offset = np.array([[1.], [-2.], [0.5]])
    slope = np.array([[0.5], [3.], [-1.]])
    x = (offset + slope * np.arange(7)).astype(np.float32)
    transform = TRANSFORMS.build(dict(type='ResizeFeature', temporal_dim=14))
    results = transform.transform(dict(raw_feature=x))
    position = np.clip(np.arange(14) / 2 - 0.25, 0, 6)
    np.testing.assert_allclose(
        results['raw_feature'], offset + slope * position, atol=1e-5)
    assert results['num_snippets'] == 7


def test_resize_errors():
    with pytest.raises(ValueError, match='C x T'):
        ResizeFeature(4).transform(
            dict(raw_feature=np.zeros(5), video_name='v_flat'))
    with pytest.raises(ValueError, match='temporal_dim must be >= 1'):
        ResizeFeature(0)
