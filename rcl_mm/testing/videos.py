# Copyright (c) rcl_mm contributors. All rights reserved.
"""Short generated videos for the tests and demos of feature extraction."""
import numpy as np


def frame_pattern(index: int, size: int = 64) -> np.ndarray:
    """Frame ``index`` of the moving pattern: a bright bar sliding right,
    a background that brightens over time and the index in the red
    channel of the top-left 8 x 8 block (readable after lossless coding).

    Returns:
        np.ndarray: size x size x 3 uint8 RGB.
    """
    frame = np.zeros((size, size, 3), dtype=np.uint8)
    frame[..., 1] = (index * 7) % 200
    left = (index * 3) % size
    frame[:, left:left + size // 8, :] = 255
    frame[:8, :8, 0] = index % 256
    frame[:8, :8, 1:] = 0
    return frame


def write_test_video(path: str, num_frames: int, fps: int = 16,
                     size: int = 64, codec: str = None) -> str:
    """Write ``num_frames`` frames of :func:`frame_pattern` with PyAV.

    Args:
        path (str): ``.mkv`` (FFV1, lossless: every pixel reads back) or
            ``.mp4`` / ``.avi`` (MPEG-4 part 2, lossy).
        num_frames (int): Frames; 0 writes a container with a video
            stream and no frame (``.avi`` keeps such a stream; ``.mp4``
            and ``.mkv`` then hold no stream or no valid header).
        fps (int): Frame rate.
        size (int): Width and height.
        codec (str, optional): Overrides the codec chosen by extension.

    Returns:
        str: ``path``.
    """
    import av
    if codec is None:
        codec = 'ffv1' if path.endswith('.mkv') else 'mpeg4'
    with av.open(path, 'w') as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width = stream.height = size
        stream.pix_fmt = 'bgr0' if codec == 'ffv1' else 'yuv420p'
        if num_frames == 0:
            container.start_encoding()  # the header, without frames
        for index in range(num_frames):
            frame = av.VideoFrame.from_ndarray(frame_pattern(index, size),
                                               format='rgb24')
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
