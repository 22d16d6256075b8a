"""Encode: every container, quality and write mode does what its table says."""

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from ltxserve import media
from ltxserve.media import EncodeOptions, OutputFormat, Quality, WriteMode
from ltxserve.media.testsrc import read_code, synthetic_clip

FPS = Fraction(24)
CLIP = synthetic_clip(160, 96, 25, FPS)

CODECS = {
    OutputFormat.MP4: ("h264", "aac"),
    OutputFormat.WEBM: ("vp9", "opus"),
    OutputFormat.MOV: ("prores", "pcm_s16le"),
    OutputFormat.GIF: ("gif", None),
}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return 10 * np.log10(255**2 / mse) if mse else float("inf")


@pytest.mark.parametrize("fmt", list(OutputFormat))
@pytest.mark.parametrize("quality", list(Quality))
def test_every_container_and_quality_makes_a_valid_file(
    tmp_path: Path, fmt: OutputFormat, quality: Quality
) -> None:
    path = tmp_path / f"out.{fmt.value}"
    media.encode_clip(path, CLIP, EncodeOptions(format=fmt, quality=quality))
    info = media.probe(path)
    assert info.container == fmt.value and info.video is not None
    video_codec, audio_codec = CODECS[fmt]
    assert info.video.codec == video_codec
    assert (info.video.width, info.video.height, info.video.frame_count) == (160, 96, 25)
    assert info.video.fps == FPS
    if audio_codec is None:
        assert info.audio is None
    else:
        assert info.audio is not None and info.audio.codec == audio_codec
    assert [read_code(f) for f in media.read_frames(path)] == list(range(25))


@pytest.mark.parametrize("fmt", [OutputFormat.MP4, OutputFormat.WEBM, OutputFormat.MOV])
def test_higher_quality_is_larger_and_closer_to_the_source(tmp_path: Path, fmt: OutputFormat) -> None:
    sizes, scores = [], []
    for quality in Quality:
        path = tmp_path / f"{quality.value}.{fmt.value}"
        media.encode_clip(path, media.Clip(CLIP.frames, FPS), EncodeOptions(format=fmt, quality=quality))
        sizes.append(path.stat().st_size)
        scores.append(psnr(media.read_frames(path), CLIP.frames))
    assert sizes == sorted(sizes) and len(set(sizes)) == 4, sizes
    assert scores == sorted(scores), scores


@pytest.mark.parametrize("fmt", [OutputFormat.MP4, OutputFormat.WEBM])
def test_small_write_mode_makes_smaller_files(tmp_path: Path, fmt: OutputFormat) -> None:
    sizes = {}
    for mode in WriteMode:
        path = tmp_path / f"{mode.value}.{fmt.value}"
        media.encode_clip(path, media.Clip(CLIP.frames, FPS), EncodeOptions(format=fmt, write_mode=mode))
        sizes[mode] = path.stat().st_size
    assert sizes[WriteMode.SMALL] < sizes[WriteMode.BALANCED]
    assert sizes[WriteMode.SMALL] < sizes[WriteMode.FAST]


@pytest.mark.parametrize("fmt", [OutputFormat.MP4, OutputFormat.WEBM, OutputFormat.MOV])
def test_fractional_frame_rate_is_kept(tmp_path: Path, fmt: OutputFormat) -> None:
    fps = Fraction(30000, 1001)
    path = tmp_path / f"ntsc.{fmt.value}"
    media.encode_clip(path, synthetic_clip(160, 96, 30, fps), EncodeOptions(format=fmt))
    info = media.probe(path)
    assert info.video is not None
    assert info.video.fps == fps
    assert info.video.duration == 30 / fps


@pytest.mark.parametrize("fmt", [OutputFormat.MP4, OutputFormat.WEBM, OutputFormat.MOV])
def test_colour_is_tagged_bt709(tmp_path: Path, fmt: OutputFormat) -> None:
    path = tmp_path / f"tags.{fmt.value}"
    media.encode_clip(path, CLIP, EncodeOptions(format=fmt))
    with av.open(str(path)) as container:
        context = container.streams.video[0].codec_context
        assert (context.colorspace, context.color_primaries, context.color_trc, context.color_range) == (
            1,
            1,
            1,
            1,
        )


@pytest.mark.parametrize("fmt", [OutputFormat.MP4, OutputFormat.WEBM, OutputFormat.MOV])
def test_audio_lasts_exactly_as_long_as_the_video(tmp_path: Path, fmt: OutputFormat) -> None:
    path = tmp_path / f"av.{fmt.value}"
    # audio deliberately 0.3 s too long: the writer trims it to the frames written
    long_audio = media.AudioTrack(np.zeros((2, 48_000 * 25 // 24 + 14_400), np.float32), 48_000)
    with media.VideoWriter(
        path, width=160, height=96, fps=FPS, audio=long_audio, options=EncodeOptions(format=fmt)
    ) as w:
        w.write_all(CLIP.frames)
    info = media.probe(path)
    assert info.video is not None and info.audio is not None
    assert abs(float(info.audio.duration - info.video.duration)) <= 0.001


def test_wrong_frame_shape_is_refused_and_the_partial_file_removed(tmp_path: Path) -> None:
    path = tmp_path / "broken.mp4"
    with (
        pytest.raises(ValueError, match=r"frame 1 must be uint8 \(96, 160, 3\)"),
        media.VideoWriter(path, width=160, height=96, fps=FPS) as writer,
    ):
        writer.write(CLIP.frames[0])
        writer.write(CLIP.frames[0][:, :100])
    assert not path.exists()


def test_odd_frame_size_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="even"):
        media.VideoWriter(tmp_path / "odd.mp4", width=161, height=96, fps=FPS)


def test_gif_keeps_every_frame_and_its_rate(tmp_path: Path) -> None:
    path = tmp_path / "anim.gif"
    media.encode_clip(path, CLIP, EncodeOptions(format=OutputFormat.GIF, quality=Quality.HIGH))
    info = media.probe(path)
    assert info.video is not None and info.video.frame_count == 25 and info.video.fps == FPS
