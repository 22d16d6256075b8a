"""Probe: every accepted format described exactly; every hostile file refused with its own error,
before any decoding, quickly, and without hanging."""

import json
import os
import subprocess
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from ltxserve import media
from ltxserve.media import MediaKind, MediaLimits
from ltxserve.media.testsrc import synthetic_clip
from tests.mediafiles import (
    make_fifo,
    patch_mp4_sample_counts,
    small_frames,
    tone,
    truncate,
    write_audio,
    write_image,
    write_video,
)

FPS = Fraction(24)


@pytest.fixture(scope="module")
def clip_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("probe") / "clip.mp4"
    media.encode_clip(path, synthetic_clip(128, 72, 49, FPS))
    return path


# --- what a good file looks like --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "container_format", "codec", "pix_fmt", "expected_container", "expected_codec"),
    [
        ("a.mp4", "mp4", "libx264", "yuv420p", "mp4", "h264"),
        ("a.mov", "mov", "prores_ks", "yuv444p10le", "mov", "prores"),
        ("a.mkv", "matroska", "libx264", "yuv420p", "mkv", "h264"),
        ("a.webm", "webm", "libvpx-vp9", "yuv420p", "webm", "vp9"),
        ("a.avi", "avi", "mpeg4", "yuv420p", "avi", "mpeg4"),
        ("a.ts", "mpegts", "libx264", "yuv420p", "ts", "h264"),
    ],
)
def test_video_containers_are_described_exactly(
    tmp_path: Path,
    name: str,
    container_format: str,
    codec: str,
    pix_fmt: str,
    expected_container: str,
    expected_codec: str,
) -> None:
    audio_codec = (
        "libopus" if container_format == "webm" else "aac" if container_format != "avi" else "libmp3lame"
    )
    path = write_video(
        tmp_path / name,
        small_frames(37),
        FPS,
        container_format=container_format,
        codec=codec,
        pix_fmt=pix_fmt,
        audio=tone(37 / 24, 48_000),
        audio_codec=audio_codec,
    )
    info = media.probe(path, require=MediaKind.VIDEO)
    assert info.kind is MediaKind.VIDEO
    assert info.container == expected_container
    assert info.video is not None and info.audio is not None
    assert (info.video.codec, info.video.width, info.video.height) == (expected_codec, 128, 72)
    assert info.video.frame_count == 37
    assert info.video.fps == 24
    assert not info.video.variable_frame_rate
    assert info.video.duration == Fraction(37, 24)
    assert info.video.rotation == 0
    assert (info.audio.sample_rate, info.audio.channels) == (48_000, 2)
    # Audio codecs pad to whole frames; the track lasts the clip to within one codec frame.
    assert abs(float(info.audio.duration) - 37 / 24) < 0.05


def test_frame_count_matches_ffprobe_counting_packets(tmp_path: Path) -> None:
    """Our exact count (by demuxing) agrees with Debian ffprobe's -count_packets on headerless webm."""
    path = write_video(
        tmp_path / "a.webm", small_frames(53), FPS, container_format="webm", codec="libvpx-vp9"
    )
    info = media.probe(path)
    result = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_packets",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_packets",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        check=True,
        text=True,
    )
    assert info.video is not None
    assert info.video.frame_count == int(json.loads(result.stdout)["streams"][0]["nb_read_packets"]) == 53


def test_fractional_frame_rate_is_kept_exact(tmp_path: Path) -> None:
    fps = Fraction(30000, 1001)
    path = write_video(
        tmp_path / "ntsc.mp4", small_frames(31), fps, audio=tone(31 / 29.97, 44_100), sample_rate=44_100
    )
    info = media.probe(path)
    assert info.video is not None and info.audio is not None
    assert info.video.fps == fps
    assert info.video.duration == 31 / fps
    assert info.audio.sample_rate == 44_100


def test_variable_frame_rate_is_flagged(tmp_path: Path) -> None:
    # every third frame dropped: deltas alternate 1,1,2 ticks of 1/24 s
    timestamps = [i for i in range(60) if i % 3 != 2]
    path = write_video(
        tmp_path / "vfr.mp4",
        small_frames(len(timestamps)),
        FPS,
        timestamps=timestamps,
        time_base=Fraction(1, 24),
    )
    info = media.probe(path)
    assert info.video is not None
    assert info.video.variable_frame_rate
    assert info.video.frame_count == 40
    assert info.video.duration == Fraction(59, 24)  # first frame (pts 0) start to last frame (pts 58) end


def test_rotation_is_read_from_the_display_matrix(tmp_path: Path) -> None:
    path = write_video(tmp_path / "phone.mp4", small_frames(9), FPS, rotation_ccw=90)
    info = media.probe(path)
    assert info.video is not None
    assert info.video.rotation == 270  # 90° counter-clockwise = 270° clockwise
    assert (info.video.display_width, info.video.display_height) == (72, 128)


@pytest.mark.parametrize(
    ("name", "codec", "container_format", "expected"),
    [
        ("a.png", "png", "image2", "png"),
        ("a.jpg", "mjpeg", "image2", "jpeg"),
        ("a.webp", "libwebp", "webp", "webp"),
    ],
)
def test_images_are_described(
    tmp_path: Path, name: str, codec: str, container_format: str, expected: str
) -> None:
    path = write_image(tmp_path / name, small_frames(1)[0], codec, container_format)
    info = media.probe(path, require=MediaKind.IMAGE)
    assert info.kind is MediaKind.IMAGE
    assert info.container == expected
    assert info.image is not None and (info.image.width, info.image.height) == (128, 72)
    assert info.video is None and info.audio is None


@pytest.mark.parametrize(
    ("name", "codec", "container_format", "rate", "channels", "expected"),
    [
        ("a.wav", "pcm_s16le", "wav", 16_000, 1, ("wav", "pcm_s16le")),
        ("a.mp3", "libmp3lame", "mp3", 44_100, 2, ("mp3", "mp3")),
        ("a.m4a", "aac", "ipod", 48_000, 2, ("m4a", "aac")),
        ("a.ogg", "libopus", "ogg", 48_000, 2, ("ogg", "opus")),
        ("a.flac", "flac", "flac", 22_050, 1, ("flac", "flac")),
    ],
)
def test_audio_files_are_described(
    tmp_path: Path,
    name: str,
    codec: str,
    container_format: str,
    rate: int,
    channels: int,
    expected: tuple[str, str],
) -> None:
    path = write_audio(tmp_path / name, tone(2.0, rate, channels), rate, codec, container_format)
    info = media.probe(path, require=MediaKind.AUDIO)
    assert info.kind is MediaKind.AUDIO
    assert info.video is None
    assert info.audio is not None
    assert (info.container, info.audio.codec) == expected
    assert (info.audio.sample_rate, info.audio.channels) == (rate, channels)
    assert abs(float(info.audio.duration) - 2.0) < 0.06


def test_cover_art_does_not_make_an_audio_file_a_video(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "song.mp3", tone(1.0, 44_100), 44_100, "libmp3lame", "mp3")
    info = media.probe(path)
    assert info.kind is MediaKind.AUDIO


# --- hostile and broken files: each has its own error ----------------------------------------


def refused(path: Path, error: type[media.MediaError], **kwargs: object) -> media.MediaError:
    started = time.monotonic()
    with pytest.raises(error) as raised:
        media.probe(path, **kwargs)  # type: ignore[arg-type]
    assert time.monotonic() - started < 5, "refusals must be quick"
    assert raised.value.message
    return raised.value


def test_missing_file(tmp_path: Path) -> None:
    refused(tmp_path / "nope.mp4", media.FileMissingError)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    assert refused(path, media.EmptyFileError).code == "empty_file"


def test_truncated_faststart_mp4(tmp_path: Path, clip_mp4: Path) -> None:
    error = refused(truncate(clip_mp4, tmp_path / "half.mp4"), media.TruncatedFileError)
    assert "cut short" in error.message


def test_truncated_mp4_with_index_at_the_end(tmp_path: Path) -> None:
    whole = write_video(tmp_path / "moov_last.mp4", small_frames(49), FPS)  # plain PyAV: moov written last
    error = refused(truncate(whole, tmp_path / "half.mp4"), media.TruncatedFileError)
    assert "moov" in error.message or "cut short" in error.message


def test_truncated_matroska(tmp_path: Path) -> None:
    whole = write_video(tmp_path / "a.mkv", small_frames(49), FPS, container_format="matroska")
    refused(truncate(whole, tmp_path / "half.mkv"), media.TruncatedFileError)


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 100_000, dtype=np.uint8).tobytes())
    refused(path, media.UnrecognizedFormatError)


def test_text_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("just some words, not a video\n" * 10)
    refused(path, media.UnrecognizedFormatError)


def test_image_renamed_mp4(tmp_path: Path) -> None:
    image = write_image(tmp_path / "still.png", small_frames(1)[0], "png", "image2")
    renamed = tmp_path / "clip.mp4"
    image.rename(renamed)
    error = refused(renamed, media.FormatMismatchError)
    assert ".mp4" in error.message and "PNG" in error.message


def test_ffconcat_script_pointing_at_another_file(tmp_path: Path, clip_mp4: Path) -> None:
    secret = tmp_path / "someone_elses_upload.mp4"
    secret.write_bytes(clip_mp4.read_bytes())
    script = tmp_path / "innocent.mp4"
    script.write_text(f"ffconcat version 1.0\nfile {secret.name}\n")
    refused(script, media.PlaylistNotAllowedError)


@pytest.mark.parametrize("name", ["stream.m3u8", "stream.mp4"])
def test_hls_playlist(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(
        "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nhttp://127.0.0.1:9/seg.ts\n#EXT-X-ENDLIST\n"
    )
    refused(path, media.PlaylistNotAllowedError)


def test_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    error = refused(make_fifo(tmp_path / "pipe.mp4"), media.UnsafePathError)
    assert "FIFO" in error.message


def test_device_is_refused() -> None:
    error = refused(Path("/dev/zero"), media.UnsafePathError)
    assert "device" in error.message


def test_symlink_is_refused(tmp_path: Path, clip_mp4: Path) -> None:
    link = tmp_path / "link.mp4"
    link.symlink_to(clip_mp4)
    error = refused(link, media.UnsafePathError)
    assert "symbolic link" in error.message


def test_directory_is_refused(tmp_path: Path) -> None:
    refused(tmp_path, media.UnsafePathError)


def test_tiny_file_claiming_8k_dimensions(tmp_path: Path) -> None:
    """3 black 7680×4320 frames: ~100 KB on disk, 300 MB decoded; refused from the header."""
    black = np.zeros((3, 4320, 7680, 3), np.uint8)
    path = write_video(tmp_path / "bomb.mp4", black, FPS, options={"preset": "ultrafast"})
    assert path.stat().st_size < 200_000
    error = refused(path, media.LimitExceededError)
    assert isinstance(error, media.LimitExceededError)
    assert error.limit == "dimensions" and error.value == "7680x4320"


def test_tiny_file_with_enormous_frame_count(tmp_path: Path) -> None:
    """40 000 tiny frames (27 min) in a few hundred KB: refused from the header's frame count."""
    frames = np.zeros((40_000, 64, 64, 3), np.uint8)
    path = write_video(tmp_path / "long.mp4", frames, Fraction(25), options={"preset": "ultrafast"})
    assert path.stat().st_size < 2_000_000
    error = refused(path, media.LimitExceededError)
    assert isinstance(error, media.LimitExceededError) and error.limit == "frames"


def test_frame_count_limit_is_enforced_while_demuxing_headerless_files(tmp_path: Path) -> None:
    """Matroska has no frame count in its header: the limit must hold as packets are counted."""
    path = write_video(tmp_path / "long.mkv", small_frames(120), FPS, container_format="matroska")
    error = refused(path, media.LimitExceededError, limits=MediaLimits(max_frames=100))
    assert isinstance(error, media.LimitExceededError) and error.limit == "frames"


def test_duration_limit(tmp_path: Path) -> None:
    path = write_video(tmp_path / "a.mkv", small_frames(49), FPS, container_format="matroska")
    error = refused(path, media.LimitExceededError, limits=MediaLimits(max_duration_seconds=1.0))
    assert isinstance(error, media.LimitExceededError) and error.limit == "duration"


def test_total_pixel_budget(tmp_path: Path, clip_mp4: Path) -> None:
    error = refused(clip_mp4, media.LimitExceededError, limits=MediaLimits(max_total_pixels=128 * 72 * 40))
    assert isinstance(error, media.LimitExceededError) and error.limit == "pixels"


def test_file_size_limit(clip_mp4: Path) -> None:
    error = refused(clip_mp4, media.LimitExceededError, limits=MediaLimits(max_file_bytes=1000))
    assert isinstance(error, media.LimitExceededError) and error.limit == "file_size"


def test_size_limit_accepts_portrait_and_refuses_just_past_the_boundary(tmp_path: Path) -> None:
    limits = MediaLimits(max_width=128, max_height=72)
    landscape = write_video(tmp_path / "l.mp4", small_frames(3, 128, 72), FPS)
    portrait = write_video(tmp_path / "p.mp4", small_frames(3, 72, 128), FPS)
    assert media.probe(landscape, limits=limits).video is not None
    assert media.probe(portrait, limits=limits).video is not None
    wider = write_video(tmp_path / "w.mp4", small_frames(3, 130, 72), FPS)
    error = refused(wider, media.LimitExceededError, limits=limits)
    assert isinstance(error, media.LimitExceededError) and error.limit == "dimensions"


def test_index_claiming_more_frames_than_the_file_holds(tmp_path: Path, clip_mp4: Path) -> None:
    liar = patch_mp4_sample_counts(clip_mp4, tmp_path / "liar.mp4", 100_000_000)
    refused(liar, media.CorruptFileError)


def test_no_video_stream_where_video_is_needed(tmp_path: Path) -> None:
    wav = write_audio(tmp_path / "speech.wav", tone(1.0, 16_000, 1), 16_000, "pcm_s16le", "wav")
    error = refused(wav, media.NoVideoStreamError, require=MediaKind.VIDEO)
    assert "no video stream" in error.message


def test_audio_only_mp4_where_video_is_needed(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "voice.mp4", tone(1.0, 48_000), 48_000, "aac", "mp4")
    refused(path, media.NoVideoStreamError, require=MediaKind.VIDEO)


def test_silent_video_where_audio_is_needed(tmp_path: Path) -> None:
    path = write_video(tmp_path / "silent.mp4", small_frames(9), FPS)
    refused(path, media.NoAudioStreamError, require=MediaKind.AUDIO)


def test_video_where_an_image_is_needed(clip_mp4: Path) -> None:
    refused(clip_mp4, media.NotAnImageError, require=MediaKind.IMAGE)


# --- the command line ------------------------------------------------------------------------

CLI = Path(os.environ.get("LTXSERVE_CLI", Path(__file__).parents[1] / ".venv" / "bin" / "ltxserve"))


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, timeout=60)


def test_cli_probe_prints_the_description(clip_mp4: Path) -> None:
    result = run_cli("probe", str(clip_mp4))
    assert result.returncode == 0, result.stderr
    assert "h264 128x72" in result.stdout and "49 frames" in result.stdout and "aac 48000 Hz" in result.stdout


def test_cli_probe_json(clip_mp4: Path) -> None:
    result = run_cli("probe", "--json", str(clip_mp4))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["video"]["fps"] == "24" and data["video"]["frame_count"] == 49
    assert data["audio"]["sample_rate"] == 48_000


@pytest.mark.parametrize("kind", ["fifo", "random", "empty", "playlist"])
def test_cli_probe_bad_file_is_one_line_and_non_zero(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "bad.mp4"
    if kind == "fifo":
        make_fifo(path)
    elif kind == "random":
        path.write_bytes(os.urandom(5000))
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        path.write_text("ffconcat version 1.0\nfile other.mp4\n")
    started = time.monotonic()
    result = run_cli("probe", str(path))
    assert time.monotonic() - started < 5
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ltxserve: error: ")
