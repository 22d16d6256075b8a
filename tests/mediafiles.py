"""Writers for the media files the tests need, made with PyAV directly (not through ltxserve's
encoder) so inputs come in the variety real uploads do: other codecs, muxers, rotations, rates."""

import os
import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ltxserve.media.testsrc import synthetic_clip


def write_video(
    path: Path,
    frames: np.ndarray,
    fps: Fraction,
    *,
    container_format: str | None = None,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    audio: np.ndarray | None = None,
    sample_rate: int = 48_000,
    audio_codec: str = "aac",
    rotation_ccw: int = 0,
    timestamps: list[int] | None = None,
    time_base: Fraction | None = None,
    options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
) -> Path:
    """Mux RGB frames (and float audio) with plain PyAV; `timestamps` (in `time_base`) make VFR files."""
    out = av.open(str(path), "w", format=container_format, options=container_options or {})
    stream = out.add_stream(codec, rate=fps)
    assert isinstance(stream, av.VideoStream)
    stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
    stream.options = dict(options or {})
    if time_base is not None:
        stream.codec_context.time_base = time_base
    if rotation_ccw:
        stream.set_display_rotation(rotation_ccw)
    audio_stream: av.AudioStream | None = None
    if audio is not None:
        layout = "stereo" if audio.shape[0] == 2 else "mono"
        added = out.add_stream(audio_codec, rate=sample_rate, layout=layout)
        assert isinstance(added, av.AudioStream)
        audio_stream = added
    for i, array in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(array, format="rgb24")
        frame.pts = timestamps[i] if timestamps is not None else i
        frame.time_base = time_base if time_base is not None else 1 / fps
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))
    if audio_stream is not None and audio is not None:
        _mux_audio(out, audio_stream, audio, sample_rate)
    out.close()
    return path


def write_audio(
    path: Path, samples: np.ndarray, sample_rate: int, codec: str, container_format: str | None = None
) -> Path:
    out = av.open(str(path), "w", format=container_format)
    layout = "stereo" if samples.shape[0] == 2 else "mono"
    stream = out.add_stream(codec, rate=sample_rate, layout=layout)
    assert isinstance(stream, av.AudioStream)
    _mux_audio(out, stream, samples, sample_rate)
    out.close()
    return path


def _mux_audio(
    out: av.container.OutputContainer, stream: av.AudioStream, samples: np.ndarray, rate: int
) -> None:
    step = 1024
    for start in range(0, samples.shape[1], step):
        chunk = np.ascontiguousarray(samples[:, start : start + step], np.float32)
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=stream.layout.name)
        frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def write_image(path: Path, array: np.ndarray, codec: str, container_format: str) -> Path:
    out = av.open(str(path), "w", format=container_format)
    stream = out.add_stream(codec, rate=1)
    assert isinstance(stream, av.VideoStream)
    pix_fmt = {"png": "rgb24", "mjpeg": "yuvj420p", "libwebp": "yuv420p"}[codec]
    stream.width, stream.height, stream.pix_fmt = array.shape[1], array.shape[0], pix_fmt
    frame = av.VideoFrame.from_ndarray(array, format="rgb24").reformat(format=pix_fmt)
    frame.pts = 0
    out.mux(stream.encode(frame))
    out.mux(stream.encode(None))
    out.close()
    return path


def tone(seconds: float, rate: int, channels: int = 2, hz: float = 440.0) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return np.tile((0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32), (channels, 1))


def small_frames(count: int, width: int = 128, height: int = 72) -> np.ndarray:
    return synthetic_clip(width, height, count, Fraction(24), sample_rate=None).frames


def truncate(source: Path, destination: Path, fraction: float = 0.5) -> Path:
    data = source.read_bytes()
    destination.write_bytes(data[: int(len(data) * fraction)])
    return destination


def patch_mp4_sample_counts(source: Path, destination: Path, claimed: int) -> Path:
    """Make the MP4 index (stts and stsz) claim `claimed` frames while the data holds a few."""
    data = bytearray(source.read_bytes())
    stts = data.find(b"stts")
    data[stts + 12 : stts + 16] = struct.pack(">I", claimed)
    stsz = data.find(b"stsz")
    data[stsz + 12 : stsz + 16] = struct.pack(">I", claimed)
    destination.write_bytes(data)
    return destination


def make_fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path
