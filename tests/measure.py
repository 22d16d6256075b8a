"""Measuring an output file the way a viewer experiences it: which frame shows when, and when each
beep sounds. Uses plain PyAV decoding, independent of ltxserve's own decoder."""

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ltxserve.media.streams import rotation_of
from ltxserve.media.testsrc import read_code


@dataclass(frozen=True)
class Playback:
    codes: list[int]
    frame_times: list[Fraction]
    """Presentation time of each frame, seconds."""
    video_end: Fraction
    audio: np.ndarray | None
    """Mono float32 samples at `audio_rate`, starting at `audio_start`."""
    audio_rate: int
    audio_start: Fraction

    @property
    def audio_end(self) -> Fraction:
        assert self.audio is not None
        return self.audio_start + Fraction(len(self.audio), self.audio_rate)

    def onsets(self, threshold: float = 0.1) -> list[float]:
        """Start times (seconds) of each beep: first sample above threshold after ≥ 50 ms of quiet."""
        assert self.audio is not None
        loud = np.flatnonzero(np.abs(self.audio) > threshold)
        starts: list[float] = []
        previous = -(10**9)
        for index in map(int, loud):
            if index - previous > 0.05 * self.audio_rate:
                starts.append(float(self.audio_start) + index / self.audio_rate)
            previous = index
        return starts


def play(path: Path, audio_rate: int = 48_000) -> Playback:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        time_base = _fraction(stream.time_base)
        codes, times = [], []
        turns = -rotation_of(stream) // 90  # as a player shows it
        for frame in container.decode(stream):
            assert frame.pts is not None
            codes.append(read_code(np.rot90(np.asarray(frame.to_ndarray(format="rgb24"), np.uint8), turns)))
            times.append(frame.pts * time_base)
        fps = _fraction(stream.guessed_rate)
    audio, audio_start = None, Fraction(0)
    with av.open(str(path)) as container:
        if container.streams.audio:
            resampler = av.AudioResampler(format="flt", layout="mono", rate=audio_rate)
            chunks: list[np.ndarray] = []
            first: Fraction | None = None
            for audio_frame in container.decode(container.streams.audio[0]):
                if first is None and audio_frame.pts is not None:
                    first = audio_frame.pts * _fraction(audio_frame.time_base)
                chunks += [c.to_ndarray()[0] for c in resampler.resample(audio_frame)]
            chunks += [c.to_ndarray()[0] for c in resampler.resample(None)]
            audio = np.concatenate(chunks).astype(np.float32)
            audio_start = max(first or Fraction(0), Fraction(0))
    return Playback(codes, times, times[-1] + 1 / fps, audio, audio_rate, audio_start)


def _fraction(rational: av.rational.AVRational) -> Fraction:
    return Fraction(rational.numerator, rational.denominator)


def beep_times(flash_frames: list[int], fps: Fraction) -> list[float]:
    return [float(Fraction(frame) / fps) for frame in flash_frames]


def match_onsets(measured: list[float], expected: list[float]) -> list[float]:
    """Offsets in ms, measured minus expected, pairing in order; the counts must agree."""
    assert len(measured) == len(expected), f"{len(measured)} beeps heard, {len(expected)} expected:\n" + (
        f"heard {[round(t, 4) for t in measured]}\nexpected {[round(t, 4) for t in expected]}"
    )
    return [(m - e) * 1000 for m, e in zip(measured, expected, strict=True)]


@dataclass(frozen=True)
class Made:
    """What a job made, as far as its price reads it (`catalog.Made`)."""

    width: int
    height: int
    frames: int
    duration: float
