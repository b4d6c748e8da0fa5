# Copyright (c) rcl_mm contributors. All rights reserved.
"""tools/analysis/long_video_memory.py: the feature file it writes, the
memory it reads off a child process, and a short run end to end."""
import importlib.util
import json
import os.path as osp
import sys

import numpy as np
import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
pytestmark = pytest.mark.skipif(
    not osp.isdir('/proc/self'), reason='reads /proc/PID/status')


def load_tool():
    spec = importlib.util.spec_from_file_location(
        'long_video_memory',
        osp.join(ROOT, 'tools', 'analysis', 'long_video_memory.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = load_tool()


def test_features_written_in_blocks(tmp_path):
    path = str(tmp_path / 'video.npy')
    tool.write_features(path, 5000, 3, seed=1)
    array = np.load(path)
    assert array.shape == (5000, 3) and array.dtype == np.float32
    # Blocks of 4096 rows from one generator: the same values as one draw.
    rng = np.random.default_rng(1)
    first = rng.standard_normal((4096, 3), dtype=np.float32)
    np.testing.assert_array_equal(array[:4096], first)
    assert not osp.exists(path + '.part')


def test_measure_sees_what_the_child_allocates():
    # The child holds 200 MiB of touched anonymous memory for 1 s.
    cmd = [
        sys.executable, '-c',
        'import time, numpy as np; a = np.ones(200 * 2**20, np.uint8); '
        'time.sleep(1)'
    ]
    anon, mapped, wall = tool.measure(cmd, 0.05)
    assert 200 * 2**20 <= anon < 400 * 2**20
    assert mapped > 0 and wall >= 1.0


def test_measure_names_a_failing_child():
    cmd = [sys.executable, '-c', 'raise SystemExit("no such video")']
    with pytest.raises(SystemExit, match='no such video'):
        tool.measure(cmd, 0.05)


def test_short_videos_end_to_end(tmp_path):
    out = tmp_path / 'memory.json'
    rows = tool.main([
        '--minutes', '0.5', '1', '--batch-size', '2', '--work-dir',
        str(tmp_path), '--out',
        str(out)
    ])
    # 30 fps, snippets of 5 frames (configs/rcl_bmn_thumos.py).
    assert [r['snippets'] for r in rows] == [180, 360]
    saved = json.loads(out.read_text())
    assert saved['rows'] == rows and saved['batch_size'] == 2
    for row in rows:
        assert row['peak_anon_bytes'] > 100 * 2**20
        assert row['file_bytes'] == 128 + row['snippets'] * 2048 * 4
    results = tmp_path / 'out_1min'
    assert any(results.iterdir())
