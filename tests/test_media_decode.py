"""Decode: frame-exact windows, rotation applied, correct colour, audio aligned to the frames."""

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from ltxserve import media
from ltxserve.media.testsrc import read_code, synthetic_clip
from tests.measure import match_onsets
from tests.mediafiles import small_frames, write_video

FPS = Fraction(24)


@pytest.fixture(scope="module")
def long_gop_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """97 frames in one GOP with B-frames: every window starts mid-GOP and in reordered frames."""
    clip = synthetic_clip(144, 80, 97, FPS)
    path = tmp_path_factory.mktemp("decode") / "gop.mp4"
    assert clip.audio is not None
    return write_video(
        path, clip.frames, FPS, audio=clip.audio.samples, options={"g": "250", "bf": "3", "crf": "16"}
    )


@pytest.mark.parametrize(("start", "stop"), [(0, 25), (37, 61), (64, 97), (96, 97)])
def test_frame_windows_are_exact(long_gop_mp4: Path, start: int, stop: int) -> None:
    frames = media.read_frames(long_gop_mp4, start, stop)
    assert frames.shape == (stop - start, 80, 144, 3) and frames.dtype == np.uint8
    assert [read_code(f) for f in frames] == list(range(start, stop))


@pytest.mark.parametrize(("fmt", "ext"), [(media.OutputFormat.WEBM, "webm"), (media.OutputFormat.MOV, "mov")])
def test_frame_windows_are_exact_in_other_containers(
    tmp_path: Path, fmt: media.OutputFormat, ext: str
) -> None:
    path = tmp_path / f"clip.{ext}"
    media.encode_clip(path, synthetic_clip(144, 80, 49, FPS), media.EncodeOptions(format=fmt))
    assert [read_code(f) for f in media.iter_frames(path, 17, 40)] == list(range(17, 40))


def test_window_outside_the_video_is_refused(long_gop_mp4: Path) -> None:
    with pytest.raises(IndexError, match="outside the video's 97 frames"):
        media.read_frames(long_gop_mp4, 90, 98)


def test_rotation_is_applied(tmp_path: Path) -> None:
    path = write_video(tmp_path / "phone.mp4", small_frames(5, 144, 80), FPS, rotation_ccw=90)
    frames = media.read_frames(path)
    assert frames.shape == (5, 144, 80, 3)  # displayed portrait
    # Undo the player's 270° clockwise turn and the frame numbers read again.
    assert [read_code(np.rot90(f, k=3)) for f in frames] == [0, 1, 2, 3, 4]


def solid_frames(rgb: tuple[int, int, int]) -> np.ndarray:
    return np.tile(np.array(rgb, np.uint8), (3, 64, 64, 1))


@pytest.mark.parametrize("rgb", [(200, 40, 90), (30, 180, 220), (128, 128, 128)])
def test_colour_round_trips_through_bt709(tmp_path: Path, rgb: tuple[int, int, int]) -> None:
    path = tmp_path / "solid.mp4"
    media.encode_clip(
        path, media.Clip(solid_frames(rgb), FPS), media.EncodeOptions(quality=media.Quality.MAXIMUM)
    )
    decoded = media.read_frames(path)
    assert np.abs(decoded.astype(int) - np.array(rgb)).max() <= 3


def write_yuv(path: Path, rgb: tuple[int, int, int], matrix: str, tag: int | None) -> Path:
    """Convert with `matrix` ourselves and tag the stream as `tag` (None = untagged)."""
    out = av.open(str(path), "w")
    stream = out.add_stream("libx264", rate=24)
    stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
    stream.options = {"crf": "0"}
    if tag is not None:
        stream.codec_context.colorspace = tag
        stream.codec_context.color_range = 1
    for i, array in enumerate(solid_frames(rgb)):
        frame = av.VideoFrame.from_ndarray(array, format="rgb24").reformat(
            format="yuv420p", dst_colorspace=matrix, dst_color_range="MPEG"
        )
        frame.pts = i
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))
    out.close()
    return path


def test_bt601_tagged_video_is_decoded_with_its_own_matrix(tmp_path: Path) -> None:
    rgb = (200, 40, 90)
    decoded = media.read_frames(write_yuv(tmp_path / "sd.mp4", rgb, "SMPTE170M", tag=6))
    assert np.abs(decoded.astype(int) - np.array(rgb)).max() <= 3


def test_untagged_video_is_taken_as_bt709(tmp_path: Path) -> None:
    rgb = (200, 40, 90)
    decoded = media.read_frames(write_yuv(tmp_path / "untagged.mp4", rgb, "ITU709", tag=None))
    assert np.abs(decoded.astype(int) - np.array(rgb)).max() <= 3


@pytest.mark.parametrize("fmt", [media.OutputFormat.MP4, media.OutputFormat.WEBM, media.OutputFormat.MOV])
def test_decoded_pixels_equal_ffmpegs_for_tagged_bt709(tmp_path: Path, fmt: media.OutputFormat) -> None:
    path = tmp_path / f"clip.{fmt.value}"
    media.encode_clip(path, synthetic_clip(144, 80, 25, FPS), media.EncodeOptions(format=fmt))
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True,
        check=True,
    ).stdout
    reference = np.frombuffer(raw, np.uint8).reshape(-1, 80, 144, 3)
    assert np.array_equal(media.read_frames(path), reference)


@pytest.mark.parametrize(
    ("fps", "source_rate", "read_rate"),
    [(Fraction(24), 48_000, 48_000), (Fraction(30000, 1001), 44_100, 16_000), (Fraction(25), 48_000, 44_100)],
)
def test_audio_under_a_window_is_exact_in_length_and_time(
    tmp_path: Path, fps: Fraction, source_rate: int, read_rate: int
) -> None:
    clip = synthetic_clip(144, 80, 180, fps, sample_rate=source_rate, beep_every=10)
    path = tmp_path / "clip.mp4"
    media.encode_clip(path, clip)
    start, stop = 102, 170  # starts past 2 s (read after a seek) and after the previous beep has ended
    window = media.read_clip(path, fps, start=start, stop=stop, sample_rate=read_rate)
    assert window.audio is not None
    expected_samples = media.samples_for(stop - start, fps, read_rate)
    assert window.audio.sample_count == expected_samples == round((stop - start) * read_rate / fps)
    codes = [read_code(f) for f in window.frames]
    assert codes == list(range(start, stop))
    flashes = [i for i, code in enumerate(codes) if code % 10 == 0]
    heard = onsets(window.audio.samples[0], read_rate)
    offsets = match_onsets(heard, [float(i / fps) for i in flashes])
    assert max(abs(o) for o in offsets) < 1.0, offsets


def onsets(samples: np.ndarray, rate: int) -> list[float]:
    loud = np.flatnonzero(np.abs(samples) > 0.1)
    starts, previous = [], -(10**9)
    for index in map(int, loud):
        if index - previous > 0.05 * rate:
            starts.append(index / rate)
        previous = index
    return starts


def test_audio_past_the_end_is_silence(tmp_path: Path) -> None:
    clip = synthetic_clip(144, 80, 24, FPS)
    path = tmp_path / "short.mp4"
    media.encode_clip(path, clip)
    samples = media.read_audio(path, sample_rate=48_000, start=Fraction(1, 2), duration=Fraction(1))
    assert samples.shape == (2, 48_000)
    assert np.abs(samples[:, 24_500:]).max() == 0.0
    assert np.abs(samples[:, :20_000]).max() > 0.1  # the beep at frame 12 (0.5 s) starts the window


def test_reading_audio_of_a_silent_video_gives_silence(tmp_path: Path) -> None:
    path = write_video(tmp_path / "silent.mp4", small_frames(24), FPS)
    samples = media.read_audio(path, sample_rate=16_000, channels=1, duration=Fraction(1))
    assert samples.shape == (1, 16_000) and not samples.any()
