"""Stitch generated media onto a source, or into a window of it, and write the result: the source's
packets copied where the edit leaves them alone, the rest encoded (`media.smart`).

The source is streamed from disk, so a long 4K source never sits in memory whole; only the audio
(small) is held. Audio is laid out on the output's own clock: each
part occupies exactly the samples under its frames, so the seams cannot drift and the output's
audio and video durations agree.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from pathlib import Path

import numpy as np

from ltxserve.media.audio import convert_audio
from ltxserve.media.clip import AudioTrack, Clip, Frames, Samples, fit_samples
from ltxserve.media.decode import read_audio
from ltxserve.media.encode import EncodeOptions
from ltxserve.media.info import MediaInfo, VideoInfo
from ltxserve.media.smart import Edit, NewFrames, Piece, SourceFrames, Written, write_edit
from ltxserve.media.timing import frame_at, sample_at

CROSSFADE = Fraction(10, 1000)
"""Seconds over which new audio is faded against the audio it continues, at a seam: short enough to
keep a beat where it was, long enough not to click."""


class Edge(StrEnum):
    END = "end"
    START = "start"


@dataclass(frozen=True)
class FrameWindow:
    """Frames [start, stop) of a video."""

    start: int
    stop: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.stop:
            raise ValueError(f"empty or negative frame window [{self.start}, {self.stop})")

    @classmethod
    def from_seconds(cls, start: Fraction, duration: Fraction, fps: Fraction) -> "FrameWindow":
        """The frames whose start instants fall in [start, start + duration), to the nearest boundary."""
        return cls(frame_at(start, fps), frame_at(start + duration, fps))

    @property
    def frame_count(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class StreamedClip:
    """A clip whose frames are read as they are written out (from disk, say), `frame_count` of them
    at `width` × `height`, with the audio under them."""

    frames: Iterable[Frames]
    frame_count: int
    width: int
    height: int
    fps: Fraction
    audio: AudioTrack | None = None


def extend(
    source: Path,
    info: MediaInfo,
    addition: Clip | StreamedClip,
    output: Path,
    *,
    at: Edge = Edge.END,
    options: EncodeOptions = EncodeOptions(),
    copy_source: bool = True,
) -> Written:
    """Write `source` with `addition` appended after it (END) or prepended before it (START).

    The output keeps the source's size, frame rate and audio rate; the source's own frames and audio
    are kept as they are (their packets copied where the codec allows, unless `copy_source` is False).
    If only one side has audio, the other side is silent.
    """
    video = _video_of(info)
    _check_size(video, addition.width, addition.height, addition.fps)
    total = video.frame_count + addition.frame_count
    parts_audio = _extension_audio(source, info, addition)
    audio = None
    kept: tuple[tuple[int, int], ...] = ()
    shift = 0
    if parts_audio is not None:
        rate, source_samples, addition_samples = parts_audio
        first, second = (
            (source_samples, addition_samples) if at is Edge.END else (addition_samples, source_samples)
        )
        split = video.frame_count if at is Edge.END else addition.frame_count
        audio = AudioTrack(_lay_out([(0, split, first), (split, total, second)], video.fps, rate), rate)
        if info.audio is not None:
            seam, end = sample_at(split, video.fps, rate), audio.samples.shape[1]
            kept, shift = (((0, seam),), 0) if at is Edge.END else (((seam, end),), seam)
    kept_source = SourceFrames(0, video.frame_count)
    new = NewFrames(addition.frames, addition.frame_count)
    pieces = (kept_source, new) if at is Edge.END else (new, kept_source)
    return write_edit(source, info, Edit(pieces, audio, kept, shift), output, options, copy=copy_source)


@dataclass(frozen=True)
class VideoPatch:
    """New frames for the source frames `window` (in memory, or read as they are written out)."""

    window: FrameWindow
    frames: Iterable[Frames]


@dataclass(frozen=True)
class AudioPatch:
    """New audio starting `start` seconds into the source (on the video's clock)."""

    start: Fraction
    track: AudioTrack


def replace_window(
    source: Path,
    info: MediaInfo,
    output: Path,
    *,
    video: VideoPatch | None = None,
    audio: AudioPatch | None = None,
    options: EncodeOptions = EncodeOptions(),
    crossfade: Fraction = CROSSFADE,
    copy_source: bool = True,
) -> Written:
    """Write `source` with a window of its frames and/or of its audio replaced; everything outside
    is the source's (its packets copied where the codec allows). New audio is faded against the
    source over `crossfade` seconds at each seam, inside the patch, so the cut does not click."""
    source_video = _video_of(info)
    if video is None and audio is None:
        raise ValueError("nothing to replace: give new frames, new audio, or both")
    if video is not None:
        window = video.window
        if window.stop > source_video.frame_count:
            count = source_video.frame_count
            raise ValueError(f"window [{window.start}, {window.stop}) is past the source's {count} frames")
        if isinstance(video.frames, np.ndarray):  # else each frame is checked as it is written
            _check_size(source_video, video.frames.shape[2], video.frames.shape[1], source_video.fps)
            if len(video.frames) != window.frame_count:
                given = len(video.frames)
                raise ValueError(f"the window holds {window.frame_count} frames, {given} were given")
    out_audio = source_audio(source, info)
    kept: tuple[tuple[int, int], ...] = ((0, out_audio.samples.shape[1]),) if out_audio is not None else ()
    if audio is not None:
        if audio.start < 0 or audio.start >= source_video.duration:
            length = float(source_video.duration)
            raise ValueError(f"audio patch at {float(audio.start):g} s is outside the {length:g} s video")
        rate = out_audio.sample_rate if out_audio is not None else audio.track.sample_rate
        channels = out_audio.channels if out_audio is not None else audio.track.channels
        total = sample_at(source_video.frame_count, source_video.fps, rate)
        base = out_audio.samples.copy() if out_audio is not None else np.zeros((channels, total), np.float32)
        new = convert_audio(audio.track, sample_rate=rate, channels=channels).samples
        first = round(audio.start * rate)
        last = min(total, first + new.shape[1])
        out_audio = AudioTrack(_splice_samples(base, new, first, last, rate, crossfade), rate)
        kept = ((0, first), (last, total)) if info.audio is not None else ()
    pieces: tuple[Piece, ...] = (SourceFrames(0, source_video.frame_count),)
    if video is not None:
        window = video.window
        pieces = (
            SourceFrames(0, window.start),
            NewFrames(_exactly(video.frames, window.frame_count), window.frame_count),
            SourceFrames(window.stop, source_video.frame_count),
        )
    pieces = tuple(p for p in pieces if not isinstance(p, SourceFrames) or p.stop > p.start)
    return write_edit(source, info, Edit(pieces, out_audio, kept), output, options, copy=copy_source)


def _exactly(frames: Iterable[Frames], count: int) -> Iterator[Frames]:
    given = 0
    for frame in frames:
        given += 1
        if given > count:
            raise ValueError(f"the window holds {count} frames, more were given")
        yield frame
    if given < count:
        raise ValueError(f"the window holds {count} frames, fewer were given")


def _splice_samples(base: Samples, new: Samples, lo: int, hi: int, rate: int, crossfade: Fraction) -> Samples:
    segment = fit_samples(new, hi - lo).copy()
    fade = min(int(crossfade * rate), (hi - lo) // 2)
    if fade > 0:
        segment[:, :fade] = faded(base[:, lo : lo + fade], segment[:, :fade])
        segment[:, -fade:] = faded(segment[:, -fade:], base[:, hi - fade : hi])
    base[:, lo:hi] = segment
    return base


def faded(leaving: Samples, coming: Samples, *, same_sound: bool = False) -> Samples:
    """`leaving` faded out as `coming` fades in over their common length: at equal power for two
    different sounds (their loudness holds through the fade), at equal gain for two renditions of
    the same sound (in phase, equal power would swell it by up to 3 dB)."""
    if same_sound:
        rising = np.linspace(0, 1, leaving.shape[1], dtype=np.float32)
        return (leaving * (1 - rising) + coming * rising).astype(np.float32)
    angle = np.linspace(0, np.pi / 2, leaving.shape[1], dtype=np.float32)
    return (leaving * np.cos(angle) + coming * np.sin(angle)).astype(np.float32)


def _video_of(info: MediaInfo) -> VideoInfo:
    if info.video is None:
        raise ValueError("the source has no video stream")
    return info.video


def _check_size(video: VideoInfo, width: int, height: int, fps: Fraction) -> None:
    size = (video.display_width, video.display_height)
    if (width, height) != size:
        raise ValueError(f"new frames must be {size[0]}x{size[1]} like the source, got {width}x{height}")
    if fps != video.fps:
        raise ValueError(f"new frames are at {fps} fps, the source at {video.fps} fps")


def source_audio(source: Path, info: MediaInfo) -> AudioTrack | None:
    """The source's audio (at most two channels, at its rate) under exactly its frames; None when
    it is silent."""
    video = _video_of(info)
    if info.audio is None:
        return None
    rate, channels = info.audio.sample_rate, min(info.audio.channels, 2)
    samples = read_audio(
        source,
        sample_rate=rate,
        channels=channels,
        duration=Fraction(sample_at(video.frame_count, video.fps, rate), rate),
    )
    return AudioTrack(samples, rate)


def _extension_audio(
    source: Path, info: MediaInfo, addition: Clip | StreamedClip
) -> tuple[int, Samples, Samples] | None:
    """(rate, source samples, addition samples) in the output's rate and channel count."""
    kept = source_audio(source, info)
    reference = kept or addition.audio
    if reference is None:
        return None
    rate, channels = reference.sample_rate, reference.channels
    source_samples = kept.samples if kept is not None else np.zeros((channels, 0), np.float32)
    addition_samples = (
        convert_audio(addition.audio, sample_rate=rate, channels=channels).samples
        if addition.audio is not None
        else np.zeros((channels, 0), np.float32)
    )
    return rate, source_samples, addition_samples


def _lay_out(parts: list[tuple[int, int, Samples]], fps: Fraction, rate: int) -> Samples:
    """Place each part's samples exactly under its frames [start, stop) on the output clock."""
    channels = parts[0][2].shape[0]
    out = np.zeros((channels, sample_at(parts[-1][1], fps, rate)), np.float32)
    for start, stop, samples in parts:
        lo, hi = sample_at(start, fps, rate), sample_at(stop, fps, rate)
        out[:, lo:hi] = fit_samples(samples, hi - lo)
    return out
