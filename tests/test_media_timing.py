"""Exact frame and sample arithmetic."""

import itertools
from fractions import Fraction

import pytest

from ltxserve.media.timing import frame_at, round_half_up, sample_at, samples_for


def test_whole_rates() -> None:
    assert samples_for(24, Fraction(24), 48_000) == 48_000
    assert samples_for(121, Fraction(24), 48_000) == 242_000
    assert samples_for(1, Fraction(25), 16_000) == 640


def test_ntsc_rate_is_not_rounded_to_29_97() -> None:
    fps = Fraction(30000, 1001)
    assert samples_for(30000, fps, 48_000) == 48_048_000  # exactly 1001 s
    assert samples_for(1, fps, 48_000) == 1602  # 1601.6 rounds up
    assert samples_for(1, Fraction(2997, 100), 48_000) == 1602  # close, but not the same rate
    assert samples_for(30000, Fraction(2997, 100), 48_000) != samples_for(30000, fps, 48_000)


def test_boundaries_tile_without_gaps_or_overlaps() -> None:
    fps = Fraction(30000, 1001)
    boundaries = [sample_at(f, fps, 44_100) for f in range(301)]
    lengths = [b - a for a, b in itertools.pairwise(boundaries)]
    assert sum(lengths) == samples_for(300, fps, 44_100)
    assert set(lengths) <= {1471, 1472}


@pytest.mark.parametrize(
    ("value", "expected"), [(Fraction(1, 2), 1), (Fraction(3, 2), 2), (Fraction(5, 2), 3)]
)
def test_ties_round_up_not_to_even(value: Fraction, expected: int) -> None:
    assert round_half_up(value) == expected


def test_frame_at_seconds() -> None:
    assert frame_at(Fraction(2), Fraction(24)) == 48
    assert frame_at(Fraction(1), Fraction(30000, 1001)) == 30
