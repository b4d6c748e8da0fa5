# Copyright (c) rcl_mm contributors. All rights reserved.
import os

import numpy as np
import pytest

from rcl_mm.utils.io import atomic_write
from rcl_mm.visualization import plot_timeline


def test_plot_timeline_writes_a_png(tmp_path):
    out = tmp_path / 'timeline.png'
    detections = np.array([[1.0, 5.0, 0.9], [2.0, 9.0, 0.3],
                           [0.0, 3.0, 0.5]])
    plot_timeline(str(out), duration=10.0, gt_segments=[[1.0, 4.5]],
                  gt_labels=['Swimming'], detections=detections,
                  title='v_x', top_k=2)
    data = out.read_bytes()
    assert data[:8] == b'\x89PNG\r\n\x1a\n'
    # Nothing but the PNG is left in the folder (no temporary file).
    assert os.listdir(tmp_path) == ['timeline.png']


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / 'a.bin'
    with atomic_write(str(target), 'wb') as f:
        f.write(b'old')
    with pytest.raises(RuntimeError, match='killed'):
        with atomic_write(str(target), 'wb') as f:
            f.write(b'half of the new')
            raise RuntimeError('killed')
    assert target.read_bytes() == b'old'
    assert os.listdir(tmp_path) == ['a.bin']
