"""Exact frame ↔ sample arithmetic. fps stays a Fraction end to end (30000/1001 is not 29.97)."""

import math
from fractions import Fraction


def round_half_up(value: Fraction) -> int:
    """Round to nearest, ties up: Python's round() ties to even, which would make windows depend on parity."""
    return math.floor(value + Fraction(1, 2))


def sample_at(frame: int, fps: Fraction, sample_rate: int) -> int:
    """Index of the audio sample that plays at the instant video frame `frame` starts."""
    return round_half_up(Fraction(frame) * sample_rate / fps)


def samples_for(frames: int, fps: Fraction, sample_rate: int) -> int:
    """Number of audio samples that belong under `frames` video frames."""
    return sample_at(frames, fps, sample_rate)


def frame_at(seconds: Fraction, fps: Fraction) -> int:
    """Nearest frame boundary to an instant in seconds."""
    return round_half_up(seconds * fps)
