"""Decoded media in memory: frames + audio on one clock."""

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

from ltxserve.media.timing import samples_for

Frames = NDArray[np.uint8]
"""uint8 RGB frames, shape (N, H, W, 3)."""
Samples = NDArray[np.float32]
"""float32 audio in [-1, 1], shape (channels, samples)."""


@dataclass(frozen=True)
class AudioTrack:
    samples: Samples
    sample_rate: int

    def __post_init__(self) -> None:
        if self.samples.ndim != 2 or self.samples.dtype != np.float32:
            raise ValueError(
                f"audio must be float32 (channels, samples), got {self.samples.dtype} {self.samples.shape}"
            )
        if self.samples.shape[0] not in (1, 2):
            raise ValueError(f"audio must be mono or stereo, got {self.samples.shape[0]} channels")
        if self.sample_rate <= 0:
            raise ValueError(f"sample rate must be positive, got {self.sample_rate}")

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def sample_count(self) -> int:
        return int(self.samples.shape[1])

    def fitted(self, sample_count: int) -> "AudioTrack":
        """Trimmed or zero-padded to exactly `sample_count` samples."""
        return AudioTrack(fit_samples(self.samples, sample_count), self.sample_rate)


@dataclass(frozen=True)
class Clip:
    """Video frames at `fps` and, optionally, the audio that plays under exactly those frames."""

    frames: Frames
    fps: Fraction
    audio: AudioTrack | None = None

    def __post_init__(self) -> None:
        if self.frames.ndim != 4 or self.frames.shape[3] != 3 or self.frames.dtype != np.uint8:
            raise ValueError(
                f"frames must be uint8 (N, H, W, 3), got {self.frames.dtype} {self.frames.shape}"
            )
        if self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if self.audio is not None:
            expected = samples_for(self.frame_count, self.fps, self.audio.sample_rate)
            if self.audio.sample_count != expected:
                raise ValueError(
                    f"{self.frame_count} frames at {self.fps} fps need {expected} audio samples at "
                    f"{self.audio.sample_rate} Hz, got {self.audio.sample_count}"
                )

    @property
    def frame_count(self) -> int:
        return int(self.frames.shape[0])

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])

    @property
    def duration(self) -> Fraction:
        return self.frame_count / self.fps


def fit_samples(samples: Samples, sample_count: int) -> Samples:
    """Trim or zero-pad (channels, samples) audio to exactly `sample_count` samples."""
    have = samples.shape[1]
    if have >= sample_count:
        return samples[:, :sample_count]
    return np.pad(samples, ((0, 0), (0, sample_count - have)))
