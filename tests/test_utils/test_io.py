# Copyright (c) rcl_mm contributors. All rights reserved.
"""rcl_mm.utils.io: atomic writes."""
import os

import pytest

from rcl_mm.utils.io import atomic_write


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
