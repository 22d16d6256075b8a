"""Encode RGB frames (+ audio) to mp4, webm, mov or gif, frame by frame, with explicit BT.709 colour.

Settings per `quality` (research/media-io.md §4 measured them):

| container | codecs                | low     | medium   | high     | maximum  |
|-----------|-----------------------|---------|----------|----------|----------|
| mp4       | H.264 crf + AAC       | 28, 96k | 23, 128k | 18, 192k | 12, 256k |
| webm      | VP9 crf + Opus        | 40, 64k | 33, 96k  | 26, 128k | 16, 192k |
| mov       | ProRes 4444 q + PCM   | 12      | 8        | 4        | 2        |
| gif       | palette colours       | 64      | 128      | 256      | 256      |

and per `write_mode`:

| write_mode | H.264            | VP9                       | ProRes      | GIF                       |
|------------|------------------|---------------------------|-------------|---------------------------|
| fast       | preset veryfast  | realtime, cpu-used 8      | as balanced | ordered (bayer) dither    |
| balanced   | preset medium    | good, cpu-used 4          | q as above  | error-diffusion dither    |
| small      | slow, crf +2     | good, cpu-used 2, crf +2  | q +2        | frame-difference palette  |

x264 `slow` alone saves only ~3 % at equal CRF, so `small` also raises the CRF by 2 to make a real
difference. GIF keeps every frame; its delays are in 1/100 s, so 24 fps alternates 4 and 5 cs.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Self

import av
import numpy as np
from av.audio.stream import AudioStream
from av.container import OutputContainer
from av.filter import Graph
from av.video.stream import VideoStream

from ltxserve.media.clip import AudioTrack, Clip, Frames
from ltxserve.media.timing import sample_at


class OutputFormat(StrEnum):
    """Containers, named by their file extension."""

    MP4 = "mp4"
    WEBM = "webm"
    MOV = "mov"
    GIF = "gif"

    @property
    def content_type(self) -> str:
        return _CONTENT_TYPES[self]


_CONTENT_TYPES = {OutputFormat.MP4: "video/mp4", OutputFormat.WEBM: "video/webm",
                  OutputFormat.MOV: "video/quicktime", OutputFormat.GIF: "image/gif"}  # fmt: skip


class Quality(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    MAXIMUM = "maximum"


class WriteMode(StrEnum):
    FAST = "fast"
    BALANCED = "balanced"
    SMALL = "small"


@dataclass(frozen=True)
class EncodeOptions:
    format: OutputFormat = OutputFormat.MP4
    quality: Quality = Quality.HIGH
    write_mode: WriteMode = WriteMode.BALANCED
    comment: str | None = None
    """Written into the container's metadata (demo outputs say so here)."""


_X264_CRF = {Quality.LOW: 28, Quality.MEDIUM: 23, Quality.HIGH: 18, Quality.MAXIMUM: 12}
_X264_PRESET = {WriteMode.FAST: "veryfast", WriteMode.BALANCED: "medium", WriteMode.SMALL: "slow"}
_VP9_CRF = {Quality.LOW: 40, Quality.MEDIUM: 33, Quality.HIGH: 26, Quality.MAXIMUM: 16}
_VP9_SPEED = {
    WriteMode.FAST: {"deadline": "realtime", "cpu-used": "8"},
    WriteMode.BALANCED: {"deadline": "good", "cpu-used": "4"},
    WriteMode.SMALL: {"deadline": "good", "cpu-used": "2"},
}
_PRORES_Q = {Quality.LOW: 12, Quality.MEDIUM: 8, Quality.HIGH: 4, Quality.MAXIMUM: 2}
_AAC_BITRATE = {Quality.LOW: 96_000, Quality.MEDIUM: 128_000, Quality.HIGH: 192_000, Quality.MAXIMUM: 256_000}
_OPUS_BITRATE = {Quality.LOW: 64_000, Quality.MEDIUM: 96_000, Quality.HIGH: 128_000, Quality.MAXIMUM: 192_000}
_GIF_COLOURS = {Quality.LOW: 64, Quality.MEDIUM: 128, Quality.HIGH: 256, Quality.MAXIMUM: 256}
_SMALL_EXTRA_CRF = 2
_X265_EXTRA_CRF = 5  # x265's CRF scale sits about 5 above x264's for the same quality
OPUS_SAMPLE_RATE = 48_000

# moov atom first, so a browser can start playing before the whole file has arrived.
_MUXER_OPTIONS = {OutputFormat.MP4: {"movflags": "+faststart"}, OutputFormat.MOV: {"movflags": "+faststart"}}
_BT709 = 1  # AVCOL_PRI/TRC/SPC_BT709
_LIMITED_RANGE = 1  # AVCOL_RANGE_MPEG


class VideoWriter:
    """Writes frames one at a time; the audio track is given up front and interleaved under the frames.

    On close the audio is trimmed or padded to exactly the duration of the frames written, so the
    audio and video durations of the file agree. If the `with` block raises, the partial file is removed.
    """

    def __init__(
        self,
        path: Path,
        *,
        width: int,
        height: int,
        fps: Fraction,
        audio: AudioTrack | None = None,
        options: EncodeOptions = EncodeOptions(),
    ) -> None:
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise ValueError(f"frame size must be positive and even, got {width}x{height}")
        self._path = path
        self._width, self._height = width, height
        self._fps = Fraction(fps)
        self._options = options
        self._frames_written = 0
        self._audio = audio if options.format is not OutputFormat.GIF else None
        self._audio_written = 0
        self._gif: _GifPalette | None = None
        self._container = open_output(path, options)
        try:
            if options.format is OutputFormat.GIF:
                self._gif = _GifPalette(width, height, self._fps, options)
                self._video = self._add_gif_stream()
            else:
                self._video = self._add_video_stream()
            self._audio_stream = self._add_audio_stream(self._audio) if self._audio is not None else None
        except BaseException:
            self._container.close()
            path.unlink(missing_ok=True)
            raise

    def _add_video_stream(self) -> VideoStream:
        fmt, quality, mode = self._options.format, self._options.quality, self._options.write_mode
        small = _SMALL_EXTRA_CRF if mode is WriteMode.SMALL else 0
        if fmt is OutputFormat.MP4:
            stream = self._container.add_stream("libx264", rate=self._fps)
            stream.pix_fmt = "yuv420p"
            stream.codec_context.options = rate_control("libx264", self._options)
        elif fmt is OutputFormat.WEBM:
            stream = self._container.add_stream("libvpx-vp9", rate=self._fps)
            stream.pix_fmt = "yuv420p"
            stream.options = {
                "crf": str(_VP9_CRF[quality] + small),
                "b": "0",
                "row-mt": "1",
                **_VP9_SPEED[mode],
            }
        else:
            stream = self._container.add_stream("prores_ks", rate=self._fps)
            stream.pix_fmt = "yuv444p10le"
            stream.options = {"profile": "4444", "vendor": "apl0"}
            stream.codec_context.qscale = True
            stream.codec_context.global_quality = _PRORES_Q[quality] + small
        stream.width, stream.height = self._width, self._height
        stream.codec_context.time_base = 1 / self._fps
        context = stream.codec_context
        context.colorspace = context.color_primaries = context.color_trc = _BT709
        context.color_range = _LIMITED_RANGE
        return stream

    def _add_gif_stream(self) -> VideoStream:
        stream = self._container.add_stream("gif", rate=self._fps)
        stream.width, stream.height, stream.pix_fmt = self._width, self._height, "pal8"
        stream.codec_context.time_base = 1 / self._fps
        return stream

    def _add_audio_stream(self, audio: AudioTrack) -> AudioStream:
        layout = "stereo" if audio.channels == 2 else "mono"
        fmt, quality = self._options.format, self._options.quality
        if fmt is OutputFormat.MP4:
            stream = self._container.add_stream("aac", rate=audio.sample_rate, layout=layout)
            stream.bit_rate = audio_bit_rate("aac", quality)
        elif fmt is OutputFormat.WEBM:
            # Opus runs at 48 kHz only; PyAV resamples other rates on the way in.
            stream = self._container.add_stream("libopus", rate=OPUS_SAMPLE_RATE, layout=layout)
            stream.bit_rate = audio_bit_rate("libopus", quality)
        else:
            stream = self._container.add_stream("pcm_s16le", rate=audio.sample_rate, layout=layout)
        return stream

    @property
    def frames_written(self) -> int:
        return self._frames_written

    def write(self, frame: Frames) -> None:
        """Append one uint8 RGB frame of shape (H, W, 3)."""
        if frame.shape != (self._height, self._width, 3) or frame.dtype != np.uint8:
            raise ValueError(
                f"frame {self._frames_written} must be uint8 ({self._height}, {self._width}, 3), "
                f"got {frame.dtype} {frame.shape}"
            )
        rgb = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        rgb.pts, rgb.time_base = self._frames_written, 1 / self._fps
        if self._gif is not None:
            self._gif.push(rgb)
        else:
            # The implicit conversion is bilinear and untagged BT.601: ~3 dB worse (research/media-io.md §7).
            yuv = rgb.reformat(
                format=self._video.pix_fmt,
                dst_colorspace="ITU709",
                dst_color_range="MPEG",
                interpolation="BICUBIC",
            )
            yuv.pts, yuv.time_base = rgb.pts, rgb.time_base
            self._container.mux(self._video.encode(yuv))
        self._frames_written += 1
        if self._audio is not None:
            self._write_audio_until(sample_at(self._frames_written, self._fps, self._audio.sample_rate))

    def write_all(self, frames: Iterable[Frames]) -> None:
        for frame in frames:
            self.write(frame)

    def _write_audio_until(self, end: int) -> None:
        assert self._audio is not None and self._audio_stream is not None
        if end <= self._audio_written:
            return
        chunk = np.zeros((self._audio.channels, end - self._audio_written), np.float32)
        available = self._audio.samples[:, self._audio_written : end]
        chunk[:, : available.shape[1]] = available
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=self._audio_stream.layout.name)
        frame.sample_rate = self._audio.sample_rate
        frame.pts, frame.time_base = self._audio_written, Fraction(1, self._audio.sample_rate)
        self._container.mux(self._audio_stream.encode(frame))
        self._audio_written = end

    def close(self) -> None:
        """Flush encoders and finish the file."""
        try:
            if self._frames_written == 0:
                raise ValueError("no frames were written")
            if self._gif is not None:
                for frame in self._gif.finish():
                    self._container.mux(self._video.encode(frame))
            self._container.mux(self._video.encode(None))
            if self._audio_stream is not None:
                self._container.mux(self._audio_stream.encode(None))
        finally:
            self._container.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
            return
        self._container.close()
        self._path.unlink(missing_ok=True)


class _GifPalette:
    """One filter graph: split → palettegen (whole clip) → paletteuse, so the palette fits every frame."""

    def __init__(self, width: int, height: int, fps: Fraction, options: EncodeOptions) -> None:
        small = options.write_mode is WriteMode.SMALL
        dither = "bayer:bayer_scale=3" if options.write_mode is WriteMode.FAST else "sierra2_4a"
        graph = Graph()
        source = graph.add_buffer(width=width, height=height, format="rgb24", time_base=1 / fps)
        split = graph.add("split")
        palette = graph.add(
            "palettegen",
            f"max_colors={_GIF_COLOURS[options.quality]}:stats_mode={'diff' if small else 'full'}",
        )
        use = graph.add("paletteuse", f"dither={dither}" + (":diff_mode=rectangle" if small else ""))
        sink = graph.add("buffersink")
        source.link_to(split)
        split.link_to(use, 0, 0)
        split.link_to(palette, 1, 0)
        palette.link_to(use, 0, 1)
        use.link_to(sink)
        graph.configure()
        self._graph = graph

    def push(self, frame: av.VideoFrame) -> None:
        self._graph.push(frame)

    def finish(self) -> list[av.VideoFrame]:
        self._graph.push(None)
        frames: list[av.VideoFrame] = []
        while True:
            try:
                out = self._graph.pull()
            except (av.BlockingIOError, av.EOFError):
                return frames
            assert isinstance(out, av.VideoFrame)
            frames.append(out)


def open_output(path: Path, options: EncodeOptions) -> OutputContainer:
    """The output file's container, with its muxer's options and the options' comment."""
    container = av.open(
        str(path), "w", format=_muxer(options.format), options=_MUXER_OPTIONS.get(options.format, {})
    )
    if options.comment:
        container.metadata["comment"] = options.comment
    return container


def rate_control(encoder: str, options: EncodeOptions) -> dict[str, str]:
    """CRF and preset of libx264 or libx265 for `options`."""
    crf = _X264_CRF[options.quality] + (_SMALL_EXTRA_CRF if options.write_mode is WriteMode.SMALL else 0)
    if encoder == "libx265":
        crf += _X265_EXTRA_CRF
    return {"crf": str(crf), "preset": _X264_PRESET[options.write_mode]}


def audio_bit_rate(encoder: str, quality: Quality) -> int:
    """The bit rate of `quality` for the aac or libopus encoder."""
    return (_OPUS_BITRATE if encoder == "libopus" else _AAC_BITRATE)[quality]


def _muxer(fmt: OutputFormat) -> str:
    return {
        OutputFormat.MP4: "mp4",
        OutputFormat.WEBM: "webm",
        OutputFormat.MOV: "mov",
        OutputFormat.GIF: "gif",
    }[fmt]


def encode_clip(path: Path, clip: Clip, options: EncodeOptions = EncodeOptions()) -> None:
    """Write a whole in-memory clip."""
    with VideoWriter(
        path, width=clip.width, height=clip.height, fps=clip.fps, audio=clip.audio, options=options
    ) as writer:
        writer.write_all(clip.frames)
