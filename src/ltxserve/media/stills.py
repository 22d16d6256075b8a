"""Stills of a video, as JPEG: a thumbnail (its middle frame) and a spritesheet (frames evenly across
it, in a grid), for clients that preview a video before fetching it."""

import io
from pathlib import Path

import av
import numpy as np

from ltxserve.media.clip import Frames
from ltxserve.media.decode import iter_frames
from ltxserve.media.probe import probe

SPRITES = (5, 5)
"""Columns and rows of a spritesheet."""
SPRITE_WIDTH = 160
"""Each frame's width in a spritesheet, in pixels (its height keeps the video's shape)."""


def thumbnail(path: Path) -> bytes:
    """The middle frame, at the video's size."""
    count = _frame_count(path)
    (frame,) = iter_frames(path, count // 2, count // 2 + 1)
    return _jpeg(frame)


def spritesheet(path: Path) -> bytes:
    """Frames evenly spaced from the first to the last, left to right and top to bottom."""
    count = _frame_count(path)
    columns, rows = SPRITES
    wanted = sorted({round(index * (count - 1) / (columns * rows - 1)) for index in range(columns * rows)})
    chosen = set(wanted)
    picked = [frame for index, frame in enumerate(iter_frames(path)) if index in chosen]
    height, width = picked[0].shape[:2]
    sprite_height = max(2, round(SPRITE_WIDTH * height / width / 2) * 2)
    sheet = np.zeros((rows * sprite_height, columns * SPRITE_WIDTH, 3), np.uint8)
    for place, frame in enumerate(picked):
        top, left = (place // columns) * sprite_height, (place % columns) * SPRITE_WIDTH
        sheet[top : top + sprite_height, left : left + SPRITE_WIDTH] = _scaled(
            frame, SPRITE_WIDTH, sprite_height
        )
    return _jpeg(sheet)


def _frame_count(path: Path) -> int:
    info = probe(path)
    if info.video is None or info.video.frame_count == 0:
        raise ValueError("the file has no video frames")
    return info.video.frame_count


def _scaled(frame: Frames, width: int, height: int) -> Frames:
    scaled: Frames = np.asarray(
        av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        .reformat(width=width, height=height, interpolation="AREA")
        .to_ndarray(format="rgb24"),
        dtype=np.uint8,
    )
    return scaled


def _jpeg(frame: Frames) -> bytes:
    """One frame as a JPEG file, encoded by FFmpeg's MJPEG encoder."""
    height, width = frame.shape[:2]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="image2pipe") as container:
        stream = container.add_stream("mjpeg", rate=1)
        stream.width, stream.height = width - width % 2, height - height % 2
        stream.pix_fmt = "yuvj420p"
        even = np.ascontiguousarray(frame[: stream.height, : stream.width])
        picture = av.VideoFrame.from_ndarray(even, "rgb24")
        for packet in stream.encode(picture.reformat(format="yuvj420p")):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()
