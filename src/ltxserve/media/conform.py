"""A source video re-timed to another frame rate and re-sized, before it is extended at that rate and
size: the model continues what it sees, so it must see the source as the output will show it.

Frames are streamed from the decoder to the encoder; each output frame is the source frame on
screen at its time, so the duration is kept and motion is neither sped up nor slowed down.
"""

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ltxserve.media.clip import AudioTrack, Frames
from ltxserve.media.decode import iter_frames, read_audio
from ltxserve.media.encode import EncodeOptions, Quality, VideoWriter
from ltxserve.media.info import MediaInfo
from ltxserve.media.timing import sample_at

_INTERMEDIATE = EncodeOptions(quality=Quality.MAXIMUM)
"""The conformed source is encoded once more in the output: keep this generation's loss small."""


def conformed_frame_count(frames: int, fps: Fraction, to_fps: Fraction) -> int:
    """Frames of the same duration at `to_fps` (nearest whole frame, at least one)."""
    return max(1, int(frames * to_fps / fps + Fraction(1, 2)))


def conform(
    source: Path,
    info: MediaInfo,
    output: Path,
    *,
    fps: Fraction | None = None,
    size: tuple[int, int] | None = None,
) -> None:
    """Write `source` at `fps` (each frame the source's on screen at its time) and `size` (width,
    height: scaled to cover it, centre-cropped), with its audio unchanged; None keeps the source's."""
    video = info.video
    if video is None:
        raise ValueError("the source has no video stream")
    fps = Fraction(fps) if fps is not None else video.fps
    width, height = size or (video.display_width, video.display_height)
    count = conformed_frame_count(video.frame_count, video.fps, fps)
    picks = [min(video.frame_count - 1, int(index * video.fps / fps)) for index in range(count)]
    audio = None
    if info.audio is not None:
        rate = info.audio.sample_rate
        samples = read_audio(
            source,
            sample_rate=rate,
            channels=min(info.audio.channels, 2),
            duration=Fraction(sample_at(count, fps, rate), rate),
        )
        audio = AudioTrack(samples, rate)
    frames = (_covered(frame, width, height) for frame in _picked(iter_frames(source), picks))
    options = _INTERMEDIATE
    with VideoWriter(output, width=width, height=height, fps=fps, audio=audio, options=options) as writer:
        writer.write_all(frames)


def _picked(frames: Iterator[Frames], picks: list[int]) -> Iterator[Frames]:
    """The source frames at the (non-decreasing) indices `picks`, a frame repeated or skipped as needed."""
    index, frame = -1, None
    for wanted in picks:
        while index < wanted:
            frame, index = next(frames), index + 1
        assert frame is not None
        yield frame


def _covered(frame: Frames, width: int, height: int) -> Frames:
    """Scaled to cover width × height, keeping its shape, then centre-cropped."""
    rows, columns = frame.shape[:2]
    if (columns, rows) == (width, height):
        return frame
    scale = max(width / columns, height / rows)
    scaled_width, scaled_height = max(width, round(columns * scale)), max(height, round(rows * scale))
    scaled: Frames = np.asarray(
        av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        .reformat(width=scaled_width, height=scaled_height, interpolation="LANCZOS")
        .to_ndarray(format="rgb24"),
        dtype=np.uint8,
    )
    top, left = (scaled_height - height) // 2, (scaled_width - width) // 2
    return scaled[top : top + height, left : left + width]
