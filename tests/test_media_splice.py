"""Splice: extend at either edge and replace a window, checked as a viewer would see and hear it.

Every frame carries its number and every marked frame a beep, so each test checks that the output
shows exactly the expected frames in order, that every beep sounds within 1 ms of the frame it
belongs to, and that the audio and video tracks end together (within 1 ms)."""

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from ltxserve import media
from ltxserve.media import AudioPatch, Edge, EncodeOptions, FrameWindow, OutputFormat, VideoPatch
from ltxserve.media.testsrc import synthetic_clip
from tests.measure import Playback, match_onsets, play
from tests.mediafiles import write_video

FPS = Fraction(24)
WIDTH, HEIGHT = 160, 96
SOURCE_FRAMES, NEW_FRAMES = 73, 41
EVERY = 12  # a beep on every frame whose number is a multiple of 12
SYNC_MS = 1.0
AV_FORMATS = [OutputFormat.MP4, OutputFormat.WEBM, OutputFormat.MOV]


def flashes(first_code: int, count: int) -> list[int]:
    return [i for i in range(count) if (first_code + i) % EVERY == 0]


def check(out: Playback, codes: list[int], beep_frames: list[int], fps: Fraction = FPS) -> None:
    assert out.codes == codes
    assert out.audio is not None
    offsets = match_onsets(out.onsets(), [float(f / fps) for f in beep_frames])
    assert max(map(abs, offsets)) <= SYNC_MS, offsets
    assert abs(float(out.audio_end - out.video_end)) * 1000 <= SYNC_MS, (out.audio_end, out.video_end)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, media.MediaInfo]:
    path = tmp_path_factory.mktemp("splice") / "source.mp4"
    media.encode_clip(path, synthetic_clip(WIDTH, HEIGHT, SOURCE_FRAMES, FPS, beep_every=EVERY))
    return path, media.probe(path)


def generated(count: int = NEW_FRAMES, sample_rate: int | None = 48_000) -> media.Clip:
    """What the model hands back: frames numbered from 1000, beeps at a different pitch."""
    return synthetic_clip(
        WIDTH, HEIGHT, count, FPS, sample_rate=sample_rate, first_code=1000, beep_every=EVERY, tone_hz=880
    )


@pytest.mark.parametrize("fmt", AV_FORMATS)
def test_extend_at_the_end(tmp_path: Path, source: tuple[Path, media.MediaInfo], fmt: OutputFormat) -> None:
    path, info = source
    output = tmp_path / f"out.{fmt.value}"
    media.extend(path, info, generated(), output, at=Edge.END, options=EncodeOptions(format=fmt))
    out = play(output)
    assert len(out.codes) == SOURCE_FRAMES + NEW_FRAMES
    check(
        out,
        list(range(SOURCE_FRAMES)) + list(range(1000, 1000 + NEW_FRAMES)),
        flashes(0, SOURCE_FRAMES) + [SOURCE_FRAMES + i for i in flashes(1000, NEW_FRAMES)],
    )


@pytest.mark.parametrize("fmt", AV_FORMATS)
def test_extend_at_the_start(tmp_path: Path, source: tuple[Path, media.MediaInfo], fmt: OutputFormat) -> None:
    path, info = source
    output = tmp_path / f"out.{fmt.value}"
    media.extend(path, info, generated(), output, at=Edge.START, options=EncodeOptions(format=fmt))
    check(
        play(output),
        list(range(1000, 1000 + NEW_FRAMES)) + list(range(SOURCE_FRAMES)),
        flashes(1000, NEW_FRAMES) + [NEW_FRAMES + i for i in flashes(0, SOURCE_FRAMES)],
    )


WINDOW = FrameWindow(30, 54)  # neither seam is on a beep, so the crossfade cannot hide or fake one


@pytest.mark.parametrize("fmt", AV_FORMATS)
@pytest.mark.parametrize("mode", ["replace_audio_and_video", "replace_video", "replace_audio"])
def test_replace_window(
    tmp_path: Path, source: tuple[Path, media.MediaInfo], fmt: OutputFormat, mode: str
) -> None:
    path, info = source
    new = generated(WINDOW.frame_count)
    assert new.audio is not None
    output = tmp_path / f"out.{fmt.value}"
    media.replace_window(
        path,
        info,
        output,
        video=VideoPatch(WINDOW, new.frames) if mode != "replace_audio" else None,
        audio=AudioPatch(WINDOW.start / FPS, new.audio) if mode != "replace_video" else None,
        options=EncodeOptions(format=fmt),
    )
    inside = list(range(WINDOW.start, WINDOW.stop))
    new_codes = list(range(1000, 1000 + WINDOW.frame_count))
    codes = list(range(SOURCE_FRAMES))
    if mode != "replace_audio":
        codes[WINDOW.start : WINDOW.stop] = new_codes
    beeps = flashes(0, SOURCE_FRAMES)
    if mode != "replace_video":
        beeps = [f for f in beeps if f not in inside] + [
            WINDOW.start + i for i in flashes(1000, WINDOW.frame_count)
        ]
    check(play(output), codes, sorted(beeps))


def test_audio_outside_the_window_is_the_sources_sample_for_sample(tmp_path: Path) -> None:
    """With PCM in and out (mov), the untouched audio comes back bit for bit."""
    clip = synthetic_clip(WIDTH, HEIGHT, SOURCE_FRAMES, FPS, beep_every=EVERY)
    source = tmp_path / "source.mov"
    media.encode_clip(source, clip, EncodeOptions(format=OutputFormat.MOV))
    info = media.probe(source)
    new = generated(WINDOW.frame_count)
    assert new.audio is not None
    output = tmp_path / "out.mov"
    patch = AudioPatch(WINDOW.start / FPS, new.audio)
    media.replace_window(source, info, output, audio=patch, options=EncodeOptions(format=OutputFormat.MOV))
    duration = Fraction(SOURCE_FRAMES) / FPS
    before = media.read_audio(source, sample_rate=48_000, duration=duration)
    after = media.read_audio(output, sample_rate=48_000, duration=duration)
    lo, hi = media.sample_at(WINDOW.start, FPS, 48_000), media.sample_at(WINDOW.stop, FPS, 48_000)
    assert np.array_equal(before[:, :lo], after[:, :lo])
    assert np.array_equal(before[:, hi:], after[:, hi:])
    assert not np.array_equal(before[:, lo:hi], after[:, lo:hi])


def test_fractional_rate_source_with_44k_audio(tmp_path: Path) -> None:
    """29.97 fps and 44.1 kHz: the model's 48 kHz audio is resampled, every seam stays in sync."""
    fps = Fraction(30000, 1001)
    clip = synthetic_clip(WIDTH, HEIGHT, 61, fps, sample_rate=44_100, beep_every=EVERY)
    source = tmp_path / "ntsc.mp4"
    media.encode_clip(source, clip)
    info = media.probe(source)
    addition = synthetic_clip(WIDTH, HEIGHT, 33, fps, first_code=1000, beep_every=EVERY, tone_hz=880)
    output = tmp_path / "out.mp4"
    media.extend(source, info, addition, output)
    result = media.probe(output)
    assert result.video is not None and result.audio is not None
    assert result.video.fps == fps and result.audio.sample_rate == 44_100
    check(
        play(output),
        list(range(61)) + list(range(1000, 1033)),
        flashes(0, 61) + [61 + i for i in flashes(1000, 33)],
        fps,
    )


def test_rotated_source_keeps_its_displayed_orientation(tmp_path: Path) -> None:
    """A phone clip stored sideways with a display matrix: the output keeps the source's pictures
    stored as they were and its matrix, the new ones stored the same way."""
    upright = synthetic_clip(192, 160, 25, FPS, sample_rate=None)
    stored = np.ascontiguousarray(np.rot90(upright.frames, k=-1, axes=(1, 2)))  # a quarter turn clockwise
    source = write_video(tmp_path / "phone.mp4", stored, FPS, rotation_ccw=90)  # the player turns it back
    info = media.probe(source)
    assert info.video is not None and (info.video.display_width, info.video.display_height) == (192, 160)
    output = tmp_path / "out.mp4"
    media.extend(source, info, synthetic_clip(192, 160, 9, FPS, sample_rate=None, first_code=1000), output)
    result = media.probe(output)
    assert result.video is not None and info.video.rotation != 0
    stored_as = (result.video.width, result.video.height, result.video.rotation)
    assert stored_as == (info.video.width, info.video.height, info.video.rotation)
    assert (result.video.display_width, result.video.display_height) == (192, 160)
    assert play(output).codes == list(range(25)) + list(range(1000, 1009))


def test_silent_source_gets_silence_under_its_frames(tmp_path: Path) -> None:
    source = tmp_path / "silent.mp4"
    media.encode_clip(source, synthetic_clip(WIDTH, HEIGHT, 25, FPS, sample_rate=None))
    info = media.probe(source)
    output = tmp_path / "out.mp4"
    media.extend(source, info, generated(17), output)
    out = play(output)
    assert out.codes == list(range(25)) + list(range(1000, 1017))
    offsets = match_onsets(out.onsets(), [float((25 + i) / FPS) for i in flashes(1000, 17)])
    assert max(map(abs, offsets)) <= SYNC_MS


def test_gif_output_has_the_frames_and_no_audio(tmp_path: Path, source: tuple[Path, media.MediaInfo]) -> None:
    path, info = source
    output = tmp_path / "out.gif"
    media.extend(path, info, generated(9), output, options=EncodeOptions(format=OutputFormat.GIF))
    out = play(output)
    assert out.codes == list(range(SOURCE_FRAMES)) + list(range(1000, 1009))
    assert out.audio is None


def test_new_frames_must_match_the_source(tmp_path: Path, source: tuple[Path, media.MediaInfo]) -> None:
    path, info = source
    wrong_size = synthetic_clip(WIDTH * 2, HEIGHT, 9, FPS)
    with pytest.raises(ValueError, match="like the source"):
        media.extend(path, info, wrong_size, tmp_path / "x.mp4")
    wrong_rate = synthetic_clip(WIDTH, HEIGHT, 9, Fraction(25))
    with pytest.raises(ValueError, match="25 fps"):
        media.extend(path, info, wrong_rate, tmp_path / "x.mp4")
    with pytest.raises(ValueError, match="the window holds 24 frames, 9 were given"):
        media.replace_window(path, info, tmp_path / "x.mp4", video=VideoPatch(WINDOW, generated(9).frames))
    with pytest.raises(ValueError, match="past the source"):
        media.replace_window(
            path, info, tmp_path / "x.mp4", video=VideoPatch(FrameWindow(60, 80), generated(20).frames)
        )
    with pytest.raises(ValueError, match="outside the"):
        late = AudioPatch(Fraction(4), media.AudioTrack(np.zeros((2, 100), np.float32), 48_000))
        media.replace_window(path, info, tmp_path / "x.mp4", audio=late)
    with pytest.raises(ValueError, match="nothing to replace"):
        media.replace_window(path, info, tmp_path / "x.mp4")
    assert not (tmp_path / "x.mp4").exists()


def test_window_from_seconds_snaps_to_frame_boundaries() -> None:
    window = FrameWindow.from_seconds(Fraction(1), Fraction(2), Fraction(30000, 1001))
    assert (window.start, window.stop) == (30, 90)
    assert FrameWindow.from_seconds(Fraction(1, 2), Fraction(1), FPS) == FrameWindow(12, 36)
