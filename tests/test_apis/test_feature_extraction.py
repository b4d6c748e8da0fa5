# Copyright (c) rcl_mm contributors. All rights reserved.
"""Snippet features of raw videos (rcl_mm.apis.feature_extraction)."""
import json
import os.path as osp

import numpy as np
import pytest
import torch

pytest.importorskip('av')

from rcl_mm.apis.feature_extraction import (  # noqa: E402
    FeatureExtractor, _clip_frame_test, _decoded_chunks, _resize_crop,
    collect_folder_info, extract_features_to, extract_video_features, init_feature_extractor,
    measure_extraction_throughput, snippet_clip_indices, write_features)
from rcl_mm.datasets.transforms import LoadSnippetFeature  # noqa: E402
from rcl_mm.testing.videos import write_test_video  # noqa: E402
from rcl_mm.utils.cli import UserError  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = osp.join(ROOT, 'configs/feature_extraction/tiny_r18_1stage_test.py')


@pytest.fixture(scope='module')
def tiny():
    return init_feature_extractor(TINY, random_weights=True)


class FrameIndexProbe(FeatureExtractor):
    """Returns, for each clip frame, the index written in its top-left
    pixel (:func:`frame_pattern`): the frames each snippet saw."""

    def forward(self, clips):
        return clips[:, :, 0, 0, 0].float()


def probe(tiny, **settings):
    base = dict(tiny.settings.to_dict(), short_side=64, crop_size=64)
    base.update(settings)
    extractor = init_feature_extractor(TINY, random_weights=True,
                                       settings=base)
    extractor.__class__ = FrameIndexProbe
    return extractor


def test_clip_indices_by_hand():
    # TSN: the centre frame of each 16-frame snippet.
    assert snippet_clip_indices(3, 16, 1, 1).tolist() == [[8], [24], [40]]
    # 3 frames 5 apart around the centre 8: 3, 8, 13.
    assert snippet_clip_indices(2, 16, 3, 5).tolist() == [[3, 8, 13],
                                                          [19, 24, 29]]
    # Clamped to the video: 5 frames 8 apart around 8 and 24, 40 frames.
    assert snippet_clip_indices(2, 16, 5, 8, 40).tolist() == [
        [0, 0, 8, 16, 24], [8, 16, 24, 32, 39]]


@pytest.mark.parametrize('interval,clip_len,frame_interval',
                         [(16, 1, 1), (16, 3, 5), (4, 5, 8), (16, 32, 2),
                          (8, 16, 4), (5, 2, 1)])
def test_only_clip_frames_are_converted(interval, clip_len, frame_interval):
    """The frames decoded to RGB are exactly those some clip reads, and
    frame 0 (clips before the start are clamped to it)."""
    test = _clip_frame_test(interval, clip_len, frame_interval)
    indices = snippet_clip_indices(40, interval, clip_len, frame_interval)
    used = set(indices.clip(0).ravel().tolist()) | {0}
    horizon = 30 * interval  # clear of the last snippets' clips
    assert {j for j in range(horizon) if test(j)} == \
        {j for j in used if j < horizon}


@pytest.mark.parametrize('num_frames,interval,clip_len,frame_interval,'
                         'chunk', [(70, 16, 3, 5, 7), (40, 16, 5, 8, 64),
                                   (33, 4, 1, 1, 5), (48, 16, 16, 1, 10)])
def test_each_snippet_sees_its_clip(tiny, tmp_path, num_frames, interval,
                                    clip_len, frame_interval, chunk):
    video = write_test_video(str(tmp_path / 'v.mkv'), num_frames, fps=16)
    extractor = probe(tiny, clip_len=clip_len, frame_interval=frame_interval,
                      decode_chunk=chunk, batch_size=3)
    features, info, _ = extract_video_features(extractor, video, interval)
    num_snippets = num_frames // interval
    assert features.shape == (num_snippets, clip_len)
    expected = snippet_clip_indices(num_snippets, interval, clip_len,
                                    frame_interval, num_frames)
    np.testing.assert_array_equal(features, expected)
    assert info == dict(
        num_frames=num_frames, fps=16.0, duration_second=num_frames / 16,
        num_snippets=num_snippets, snippet_interval=interval,
        feature_frame=num_snippets * interval,
        feature_second=num_snippets * interval / 16)


def test_streamed_batched_equals_one_by_one_and_reference(tiny, tmp_path):
    video = write_test_video(str(tmp_path / 'v.mp4'), 75, fps=25)
    batched, info, _ = extract_video_features(tiny, video, 8)
    one = init_feature_extractor(TINY, random_weights=True,
                                 settings=dict(batch_size=1, decode_chunk=3))
    single, _, _ = extract_video_features(one, video, 8)
    assert batched.shape == (9, 64) and info['num_snippets'] == 9
    np.testing.assert_allclose(batched, single, rtol=1e-5, atol=1e-6)
    # Reference: every frame decoded at once, each clip run on its own.
    frames = np.stack([f for _, c in _decoded_chunks(video, 1000)
                       for f in c])
    s = tiny.settings
    resized = _resize_crop(frames, s.short_side, s.crop_size)
    indices = snippet_clip_indices(9, 8, s.clip_len, s.frame_interval, 75)
    reference = torch.cat([tiny.forward(resized[i][None]) for i in indices])
    np.testing.assert_allclose(batched, reference.numpy(), rtol=1e-5,
                               atol=1e-6)
    # Snippets differ (the pattern moves): not a constant output.
    assert np.abs(batched[0] - batched[4]).max() > 1e-3


def test_resize_crop_by_hand():
    frames = np.zeros((1, 4, 8, 3), dtype=np.uint8)
    frames[0, :, 3:5] = 200  # columns 3 and 4
    # Short side 4: no resize; the centre 4 x 4 crop is columns 2..5.
    out = _resize_crop(frames, short_side=4, crop_size=4)
    assert out.shape == (1, 3, 4, 4)
    assert out[0, 0, 0].tolist() == [0, 200, 200, 0]
    # Short side 8: 8 x 16 (bilinear, half-pixel centres); the centre
    # 6 x 6 crop is columns 5..10, at source x 2.25, 2.75, ..., 4.75.
    out = _resize_crop(frames, short_side=8, crop_size=6)
    assert out.shape == (1, 3, 6, 6)
    assert out[0, 1, 2].tolist() == [50, 150, 200, 200, 150, 50]


def test_bad_videos_give_clear_errors(tiny, tmp_path):
    corrupt = tmp_path / 'corrupt.mp4'
    corrupt.write_bytes(b'\x00\x00\x00\x18ftypmp42' + bytes(range(200)))
    with pytest.raises(UserError, match='cannot open the video.*corrupt.mp4'
                       '.*re-encode'):
        extract_video_features(tiny, str(corrupt))
    # A stream without frames, a file of 0 bytes, no stream at all.
    empty = write_test_video(str(tmp_path / 'empty.avi'), 0)
    with pytest.raises(UserError, match=r'no frames \(zero length\) '
                       r'\(.*empty.avi\)'):
        extract_video_features(tiny, empty)
    (tmp_path / 'zero.mp4').write_bytes(b'')
    with pytest.raises(UserError, match=r'empty \(0 bytes\) \(.*zero.mp4'):
        extract_video_features(tiny, str(tmp_path / 'zero.mp4'))
    no_stream = write_test_video(str(tmp_path / 'no_stream.mp4'), 0)
    with pytest.raises(UserError, match=r'no video stream \(.*no_stream'):
        extract_video_features(tiny, no_stream)
    with pytest.raises(FileNotFoundError, match='no such video file'):
        extract_video_features(tiny, str(tmp_path / 'missing.mp4'))
    short = write_test_video(str(tmp_path / 'short.mp4'), 10)
    with pytest.raises(UserError, match=r'shorter than one snippet \(10 '
                       r'frames < --interval 16\)'):
        extract_video_features(tiny, short, 16)


@pytest.mark.skipif(torch.cuda.is_available(), reason='has a GPU')
def test_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(UserError, match=r'no CUDA device here \(--device '
                       r'cuda\): use --device cpu'):
        init_feature_extractor(TINY, device='cuda', random_weights=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_features_equal_cpu_features(tiny, tmp_path):
    video = write_test_video(str(tmp_path / 'v.mp4'), 40)
    cuda = init_feature_extractor(TINY, device='cuda', random_weights=True)
    on_gpu, _, _ = extract_video_features(cuda, video, 8)
    on_cpu, _, _ = extract_video_features(tiny, video, 8)
    np.testing.assert_allclose(on_gpu, on_cpu, rtol=1e-3, atol=1e-3)


def test_checkpoint_required_and_checked(tiny, tmp_path):
    with pytest.raises(UserError, match='no extractor checkpoint.*'
                       '--random-weights'):
        init_feature_extractor(TINY)
    # A checkpoint of the config loads into a differently seeded model.
    ckpt = tmp_path / 'tiny.pth'
    torch.save(dict(state_dict=tiny.model.state_dict()), ckpt)
    loaded = init_feature_extractor(TINY, str(ckpt), seed=5)
    other = init_feature_extractor(TINY, random_weights=True, seed=5)
    clips = torch.randint(0, 255, (2, 2, 3, 32, 32), dtype=torch.uint8)
    torch.testing.assert_close(loaded.forward(clips), tiny.forward(clips))
    assert not torch.allclose(other.forward(clips), tiny.forward(clips))
    # A checkpoint of another backbone: named, not half loaded.
    state = dict(tiny.model.state_dict())
    state['backbone.conv1.conv.weight'] = torch.zeros(64, 3, 3, 3)
    bad = tmp_path / 'other.pth'
    torch.save(dict(state_dict=state), bad)
    with pytest.raises(UserError, match='does not fit the extractor config'
                       '.*backbone.conv1.conv.weight'):
        init_feature_extractor(TINY, str(bad))
    del state['backbone.conv1.conv.weight']
    torch.save(dict(state_dict=state), bad)
    with pytest.raises(UserError, match='1 backbone weight.*missing'):
        init_feature_extractor(TINY, str(bad))


def test_written_files_read_by_the_datasets(tiny, tmp_path):
    video = write_test_video(str(tmp_path / 'clip_a.mp4'), 40, fps=20)
    out = tmp_path / 'features'
    for fmt in ('csv', 'npy'):
        path, info, thumbs = extract_features_to(
            tiny, video, str(out), 8, fmt, num_thumbnails=3)
        assert path == str(out / f'clip_a.{fmt}')
        loaded = LoadSnippetFeature(feat_dim=64)(
            dict(feature_path=path, video_name='clip_a'))['raw_feature']
        features, _, _ = extract_video_features(tiny, video, 8)
        # Exactly: the csv keeps every float32 digit.
        np.testing.assert_array_equal(loaded.T, features)
    assert info['num_snippets'] == 5 and info['feat_dim'] == 64
    assert info['duration_second'] == 2.0
    # Thumbnails: evenly spread over the video, 48 px high.
    assert [round(t, 2) for t, _ in thumbs] == [0.0, 0.8, 1.6]
    assert thumbs[0][1].shape == (48, 48, 3)
    on_disk = json.loads((out / 'clip_a.info.json').read_text())
    assert on_disk['num_frames'] == 40 and on_disk['fps'] == 20.0
    merged = collect_folder_info(str(out))
    assert list(merged) == ['clip_a']
    assert json.loads((out / 'video_info.json').read_text()) == merged
    # Nothing left behind by the atomic writes.
    assert sorted(p.name for p in out.iterdir()) == [
        'clip_a.csv', 'clip_a.info.json', 'clip_a.npy', 'video_info.json']


def test_write_features_refuses_other_formats(tmp_path):
    with pytest.raises(UserError, match='csv or .npy'):
        write_features(np.zeros((2, 3)), str(tmp_path / 'f.txt'))


def test_throughput_measure(tiny):
    result = measure_extraction_throughput(TINY, num_snippets=16,
                                           batch_size=8)
    assert result['num_snippets'] == 16 and result['feat_dim'] == 64
    assert result['snippets_per_second'] == pytest.approx(
        16 / result['seconds'])
    assert result['snippets_per_second'] > 0
