"""Frames kept on disk as they are made and read back by range: a long extend's new part (60 s of
1080p is 9 GB of RGB) never sits in memory whole."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ltxserve.media.clip import Frames

_BLOCK = 8
"""Frames read from disk at a time when streaming."""


class FrameSpool:
    """uint8 RGB frames of one size appended to a raw file; frame i is at byte i × frame size."""

    def __init__(self, path: Path, width: int, height: int) -> None:
        self.path = path
        self.width, self.height = width, height
        self.frame_count = 0
        path.write_bytes(b"")

    @property
    def _frame_bytes(self) -> int:
        return self.height * self.width * 3

    def append(self, frames: Frames) -> None:
        if frames.ndim != 4 or frames.shape[1:] != (self.height, self.width, 3) or frames.dtype != np.uint8:
            raise ValueError(
                f"frames must be uint8 (N, {self.height}, {self.width}, 3), got {frames.dtype} {frames.shape}"
            )
        with self.path.open("ab") as file:
            file.write(np.ascontiguousarray(frames).tobytes())
        self.frame_count += len(frames)

    def read(self, start: int, stop: int) -> Frames:
        """Frames [start, stop)."""
        if not 0 <= start <= stop <= self.frame_count:
            raise ValueError(f"frames [{start}, {stop}) are not within the spool's {self.frame_count}")
        count = (stop - start) * self._frame_bytes
        with self.path.open("rb") as file:
            file.seek(start * self._frame_bytes)
            data = np.frombuffer(file.read(count), np.uint8)
        return data.reshape(stop - start, self.height, self.width, 3)

    def iter(self, start: int, stop: int) -> Iterator[Frames]:
        """Frames [start, stop) one at a time, a few read at once."""
        for first in range(start, stop, _BLOCK):
            yield from self.read(first, min(stop, first + _BLOCK))
