"""Frame-exact decoding of video frames and of the audio under them.

Frames are addressed by display index (0 = first frame shown), found by demuxing the timestamps,
so a cut is exact even mid-GOP or with B-frames. The audio clock starts at the first video frame:
the audio under frames [start, stop) is samples [sample_at(start), sample_at(start) + samples_for(n)).
Call these only on files that `probe` has accepted: they trust its limits.
"""

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.container import InputContainer
from av.video.stream import VideoStream

from ltxserve.media.clip import AudioTrack, Clip, Frames, Samples
from ltxserve.media.errors import CorruptFileError, NoVideoStreamError
from ltxserve.media.source import open_media
from ltxserve.media.streams import as_fraction, first_video_stream, rotation_of, sws_colorspace
from ltxserve.media.timing import round_half_up, sample_at, samples_for

_FULL_RANGE = 2  # AVCOL_RANGE_JPEG
_AUDIO_SEEK_MARGIN = Fraction(1)  # decode from 1 s early so the codec has settled by the window


def iter_frames(path: Path, start: int = 0, stop: int | None = None) -> Iterator[Frames]:
    """Yield frames [start, stop) as uint8 (H, W, 3) RGB, display rotation applied, one at a time."""
    rotation: int | None = None
    for frame, stream in _decoded(path, start, stop):
        if rotation is None:
            rotation = rotation_of(stream)
        yield _to_rgb(frame, rotation)


def iter_coded_frames(path: Path, start: int = 0, stop: int | None = None) -> Iterator[av.VideoFrame]:
    """Frames [start, stop) as the codec made them: its pixel format, unrotated."""
    for frame, _ in _decoded(path, start, stop):
        yield frame


def _decoded(path: Path, start: int, stop: int | None) -> Iterator[tuple[av.VideoFrame, VideoStream]]:
    with open_media(path) as (_, container):
        stream = _video_stream(container)
        pts = _frame_timestamps(container, stream)
        stop = len(pts) if stop is None else stop
        if not 0 <= start <= stop <= len(pts):
            raise IndexError(f"frames [{start}, {stop}) are outside the video's {len(pts)} frames")
        if start == stop:
            return
        stream.thread_type = "AUTO"
        container.seek(int(pts[start]), stream=stream, backward=True)
        index = start
        for frame in container.decode(stream):
            if frame.pts is None or frame.pts < pts[index]:
                continue
            if frame.pts != pts[index]:
                raise CorruptFileError(f"frame {index} could not be decoded: the file is damaged")
            yield frame, stream
            index += 1
            if index == stop:
                return
        raise CorruptFileError(
            f"decoded {index - start} of {stop - start} frames: the file is damaged or cut short"
        )


def read_image(path: Path) -> Frames:
    """A still image (or a video's first frame) as uint8 (H, W, 3)."""
    with open_media(path) as (_, container):
        stream = _video_stream(container)
        for frame in container.decode(stream):
            return _to_rgb(frame, rotation_of(stream))
    raise CorruptFileError("the image holds no picture")


def read_frames(path: Path, start: int = 0, stop: int | None = None) -> Frames:
    """Frames [start, stop) as one uint8 (N, H, W, 3) array."""
    return np.stack(list(iter_frames(path, start, stop)))


def read_audio(
    path: Path, *, sample_rate: int, channels: int = 2, start: Fraction = Fraction(0), duration: Fraction
) -> Samples:
    """Audio from `start` for `duration` seconds as float32 (channels, samples) at `sample_rate`.

    Time 0 is the first video frame (or the first audio sample when there is no video). Silence fills
    whatever the file does not cover, so the result always has round(duration × rate) samples.
    """
    first = round_half_up(start * sample_rate)
    count = round_half_up(duration * sample_rate)
    out = np.zeros((channels, count), np.float32)
    with open_media(path) as (_, container):
        if not container.streams.audio:
            return out
        audio = container.streams.audio[0]
        video = first_video_stream(container)
        clock_zero = _start_seconds(video) if video is not None else None
        if clock_zero is None:
            clock_zero = _start_seconds(audio) or Fraction(0)
        audio_time_base = as_fraction(audio.time_base) or Fraction(1, audio.codec_context.sample_rate)
        if start > _AUDIO_SEEK_MARGIN * 2:
            seek_to = (clock_zero + start - _AUDIO_SEEK_MARGIN) / audio_time_base
            container.seek(int(seek_to), stream=audio, backward=True)
        resampler = av.AudioResampler(
            format="fltp", layout="stereo" if channels == 2 else "mono", rate=sample_rate
        )
        position: int | None = None  # output sample index of the next resampled sample
        for frame in container.decode(audio):
            if position is None:
                if frame.pts is None:
                    continue
                position = round_half_up((frame.pts * audio_time_base - clock_zero) * sample_rate)
            for chunk in resampler.resample(frame):
                position = _place(out, _float_samples(chunk), position, first)
            if position >= first + count:
                break
        else:
            if position is not None:
                for chunk in resampler.resample(None):
                    position = _place(out, _float_samples(chunk), position, first)
    return out


def _start_seconds(stream: av.stream.Stream) -> Fraction | None:
    time_base = as_fraction(stream.time_base)
    if stream.start_time is None or time_base is None:
        return None
    return stream.start_time * time_base


def _float_samples(frame: av.AudioFrame) -> Samples:
    return np.asarray(frame.to_ndarray(), dtype=np.float32)  # fltp: already float32, no copy


def _place(out: Samples, chunk: Samples, position: int, first: int) -> int:
    """Copy the part of `chunk` (starting at absolute sample `position`) that falls inside `out`."""
    lo = max(position, first)
    hi = min(position + chunk.shape[1], first + out.shape[1])
    if hi > lo:
        out[:, lo - first : hi - first] = chunk[:, lo - position : hi - position]
    return position + int(chunk.shape[1])


def read_clip(
    path: Path,
    fps: Fraction,
    *,
    start: int = 0,
    stop: int,
    sample_rate: int | None = 48_000,
    channels: int = 2,
) -> Clip:
    """Frames [start, stop) with exactly the audio under them (none when `sample_rate` is None)."""
    frames = read_frames(path, start, stop)
    audio = None
    if sample_rate is not None:
        first = sample_at(start, fps, sample_rate)
        count = samples_for(stop - start, fps, sample_rate)
        samples = read_audio(
            path,
            sample_rate=sample_rate,
            channels=channels,
            start=Fraction(first, sample_rate),
            duration=Fraction(count, sample_rate),
        )
        audio = AudioTrack(samples, sample_rate)
    return Clip(frames, fps, audio)


def _video_stream(container: InputContainer) -> VideoStream:
    stream = first_video_stream(container)
    if stream is None:
        raise NoVideoStreamError("the file has no video stream")
    return stream


def _frame_timestamps(container: InputContainer, stream: VideoStream) -> list[int]:
    pts = sorted(p.pts for p in container.demux(stream) if p.pts is not None and p.size)
    if not pts:
        raise CorruptFileError("the video stream holds no frames")
    return pts


def _to_rgb(frame: av.VideoFrame, rotation: int) -> Frames:
    rgb = frame.reformat(
        format="rgb24",
        src_colorspace=sws_colorspace(frame.colorspace),
        src_color_range="JPEG" if frame.color_range == _FULL_RANGE else "MPEG",
        dst_color_range="JPEG",
        interpolation="BICUBIC",
    )
    array = np.asarray(rgb.to_ndarray(), dtype=np.uint8)
    if rotation:
        array = np.ascontiguousarray(np.rot90(array, k=-rotation // 90))
    return array
