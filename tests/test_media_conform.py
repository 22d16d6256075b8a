"""A source re-timed and re-sized before an extension at another rate or size: each output frame is
the source frame on screen at its time, the sound is unchanged and in sync, the picture covers the
new size without stretching."""

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from ltxserve import media
from ltxserve.media.conform import conform, conformed_frame_count
from ltxserve.media.testsrc import synthetic_clip
from tests.measure import match_onsets, play

FPS = Fraction(24)
WIDTH, HEIGHT, FRAMES, EVERY = 160, 96, 73, 12


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, media.MediaInfo]:
    path = tmp_path_factory.mktemp("conform") / "source.mp4"
    media.encode_clip(path, synthetic_clip(WIDTH, HEIGHT, FRAMES, FPS, beep_every=EVERY))
    return path, media.probe(path)


@pytest.mark.parametrize(
    ("fps", "count"), [(Fraction(12), 37), (Fraction(30000, 1001), 91), (Fraction(48), 146), (FPS, FRAMES)]
)
def test_retimed_frames_are_the_ones_on_screen_and_the_beeps_stay_in_sync(
    tmp_path: Path, source: tuple[Path, media.MediaInfo], fps: Fraction, count: int
) -> None:
    path, info = source
    output = tmp_path / "retimed.mp4"
    conform(path, info, output, fps=fps)
    made = media.probe(output)
    assert made.video is not None and made.video.fps == fps and made.video.frame_count == count
    assert conformed_frame_count(FRAMES, FPS, fps) == count
    played = play(output)
    assert played.codes == [min(FRAMES - 1, int(i * FPS / fps)) for i in range(count)]
    beeps = [float(code / FPS) for code in range(0, FRAMES, EVERY)]
    offsets = match_onsets(played.onsets(), beeps)
    assert max(map(abs, offsets)) <= 1.0, offsets
    assert abs(float(played.audio_end - played.video_end)) * 1000 <= 1.0


def test_resized_frames_cover_the_new_size_centred_without_stretching(
    tmp_path: Path, source: tuple[Path, media.MediaInfo]
) -> None:
    path, info = source
    output = tmp_path / "resized.mp4"
    conform(path, info, output, size=(320, 180))  # 5:3 → 16:9: twice the size, 6 rows cropped each side
    made = media.probe(output)
    assert made.video is not None and (made.video.width, made.video.height) == (320, 180)
    assert made.video.frame_count == FRAMES and made.audio is not None
    first = media.read_frames(output, 0, 1)[0].astype(np.int16)
    original = media.read_frames(path, 0, 1)[0]
    doubled = np.repeat(np.repeat(original, 2, axis=0), 2, axis=1).astype(np.int16)
    centred, top = np.abs(first - doubled[6:186]).mean(), np.abs(first - doubled[:180]).mean()
    assert centred < 6 and top > 2 * centred
