"""The probe's work, meant to run inside the sandbox: every limit is checked before any decoding.

Order matters. Cheap checks on the path and the first bytes come first, then the container's own
structure (a truncated MP4 or Matroska file is caught by its box and segment sizes), then the stream
headers (dimensions, claimed frame count and duration), and only then is the file demuxed, packet by
packet, to count frames exactly, with the limits enforced as the count grows.
"""

import struct
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

import av
import numpy as np
from av.audio.stream import AudioStream
from av.container import InputContainer
from av.video.stream import VideoStream

from ltxserve.media.errors import (
    CorruptFileError,
    LimitExceededError,
    NoAudioStreamError,
    NotAnImageError,
    NoVideoStreamError,
    TruncatedFileError,
)
from ltxserve.media.formats import GIF, MATROSKA, MOV, MP4, WEBM, ContainerFormat, MediaKind, check_extension
from ltxserve.media.info import AudioInfo, ImageInfo, MediaInfo, VideoInfo
from ltxserve.media.limits import MediaLimits
from ltxserve.media.source import OpenedFile, demuxer, opened_file
from ltxserve.media.streams import as_fraction, first_video_stream, rotation_of


def inspect(path: str, limits: MediaLimits, require: MediaKind | None) -> MediaInfo:
    """Probe in this process. Use `ltxserve.media.probe`, which runs this in the sandbox."""
    file_path = Path(path)
    with opened_file(file_path) as opened:
        if opened.size > limits.max_file_bytes:
            raise LimitExceededError("file_size", opened.size, limits.max_file_bytes)
        check_extension(file_path, opened.container)
        if opened.container in (MP4, MOV):
            _check_mp4_boxes(opened.file, opened.size)
        elif opened.container in (MATROSKA, WEBM):
            _check_matroska_segment(opened.file, opened.size)
        with demuxer(opened) as container:
            info = _read_streams(container, opened, limits)
    _check_required(info, require)
    return info


def inspect_to_json(path: str, limits: MediaLimits, require: MediaKind | None) -> dict[str, Any]:
    """`inspect`, answered as JSON: what the sandbox's child sends back to `probe`."""
    return inspect(path, limits, require).to_json()


def _check_required(info: MediaInfo, require: MediaKind | None) -> None:
    what = f"{info.container.upper()} {info.kind.value}"
    if require is MediaKind.VIDEO and info.video is None:
        raise NoVideoStreamError(f"a video is needed, but this {what} file has no video stream")
    if require is MediaKind.AUDIO and info.audio is None:
        raise NoAudioStreamError(f"audio is needed, but this {what} file has no audio stream")
    if require is MediaKind.IMAGE and info.image is None:
        raise NotAnImageError(f"an image is needed, but this is a {what} file")


def _check_mp4_boxes(file: BinaryIO, size: int) -> None:
    """Walk the top-level boxes: each must end inside the file, and the moov index must be there."""
    offset, seen_moov = 0, False
    while offset + 8 <= size:
        file.seek(offset)
        header = file.read(16)
        box_size, box_type = struct.unpack(">I4s", header[:8])
        if box_size == 1:
            if len(header) < 16:
                break
            (box_size,) = struct.unpack(">Q", header[8:16])
        elif box_size == 0:
            box_size = size - offset
        if box_size < 8:
            raise CorruptFileError(f"MP4 box {box_type!r} at byte {offset} has an impossible size {box_size}")
        seen_moov |= box_type == b"moov"
        if offset + box_size > size:
            raise TruncatedFileError(
                f"the file is cut short: MP4 box {box_type.decode('latin-1')!r} needs "
                f"{offset + box_size} bytes, the file has {size}"
            )
        offset += box_size
    file.seek(0)
    if not seen_moov:
        raise TruncatedFileError("the file has no MP4 index (moov box): it is incomplete")


def _check_matroska_segment(file: BinaryIO, size: int) -> None:
    """A Matroska Segment with a known size must fit in the file; live-written files leave it unknown."""
    file.seek(0)
    head = file.read(64)
    file.seek(0)
    offset = 4
    header_size, width = _ebml_vint(head, offset)
    offset += width + header_size
    if head[offset : offset + 4] != b"\x18\x53\x80\x67":
        return
    segment_size, width = _ebml_vint(head, offset + 4)
    unknown = segment_size == (1 << (7 * width)) - 1
    if not unknown and offset + 4 + width + segment_size > size:
        raise TruncatedFileError(
            f"the file is cut short: its Matroska segment needs {offset + 4 + width + segment_size} "
            f"bytes, the file has {size}"
        )


def _ebml_vint(data: bytes, offset: int) -> tuple[int, int]:
    """(value, length in bytes) of the EBML variable-length integer at `offset`."""
    if offset >= len(data) or data[offset] == 0:
        raise CorruptFileError("malformed Matroska header")
    first = data[offset]
    width = 8 - first.bit_length() + 1
    value = first & ((1 << (8 - width)) - 1)
    for byte in data[offset + 1 : offset + width]:
        value = (value << 8) | byte
    return value, width


def _read_streams(container: InputContainer, opened: OpenedFile, limits: MediaLimits) -> MediaInfo:
    video = first_video_stream(container)
    audio = container.streams.audio[0] if container.streams.audio else None
    if opened.container.kind is MediaKind.IMAGE:
        if video is None:
            raise CorruptFileError(f"the {opened.container.name.upper()} image has no picture")
        return MediaInfo(
            MediaKind.IMAGE, opened.container.name, opened.size, None, None, _image_info(video, limits)
        )
    if video is None and audio is None:
        raise CorruptFileError(f"the {opened.container.name.upper()} file has no video or audio stream")
    if video is not None:
        _check_video_headers(container, video, limits)
    counts = _count_packets(container, video, audio, limits)
    video_info = _video_info(container, opened, video, counts) if video is not None else None
    audio_info = _audio_info(audio, counts) if audio is not None else None
    if audio_info is None and video_info is None:
        raise CorruptFileError("the file holds no video frames and no audio")
    kind = MediaKind.VIDEO if video_info is not None else MediaKind.AUDIO
    return MediaInfo(kind, opened.container.name, opened.size, video_info, audio_info, None)


def _image_info(stream: VideoStream, limits: MediaLimits) -> ImageInfo:
    width, height = stream.codec_context.width, stream.codec_context.height
    if width <= 0 or height <= 0:
        raise CorruptFileError("the image has no picture size")
    if max(width, height) > limits.max_image_side or width * height > limits.max_image_pixels:
        raise LimitExceededError(
            "dimensions",
            f"{width}x{height}",
            f"{limits.max_image_side} px a side and {limits.max_image_pixels} pixels",
        )
    return ImageInfo(stream.codec_context.codec.canonical_name, width, height)


def _check_video_headers(container: InputContainer, stream: VideoStream, limits: MediaLimits) -> None:
    width, height = stream.codec_context.width, stream.codec_context.height
    if width <= 0 or height <= 0:
        raise CorruptFileError("the video stream has no picture size")
    if not limits.check_video_size(width, height):
        raise LimitExceededError("dimensions", f"{width}x{height}", f"{limits.max_width}x{limits.max_height}")
    if stream.frames > limits.max_frames:
        raise LimitExceededError(
            "frames",
            stream.frames,
            limits.max_frames,
            f"the header claims {stream.frames} frames, more than the limit of {limits.max_frames}",
        )
    if container.duration is not None and container.duration / av.time_base > limits.max_duration_seconds:
        seconds = container.duration / av.time_base
        raise LimitExceededError("duration", f"{seconds:.1f} s", f"{limits.max_duration_seconds:g} s")
    if stream.frames * width * height > limits.max_total_pixels:
        raise LimitExceededError("pixels", stream.frames * width * height, limits.max_total_pixels)


@dataclass
class _PacketCounts:
    video_pts: list[int] = field(default_factory=list)
    audio_start: int | None = None
    audio_end: int | None = None


def _count_packets(
    container: InputContainer, video: VideoStream | None, audio: AudioStream | None, limits: MediaLimits
) -> _PacketCounts:
    """Demux without decoding, enforcing frame, duration and pixel limits as packets arrive."""
    counts = _PacketCounts()
    streams = [s for s in (video, audio) if s is not None]
    pixels_per_frame = video.codec_context.width * video.codec_context.height if video is not None else 0
    max_frames = min(limits.max_frames, limits.max_total_pixels // max(pixels_per_frame, 1))
    try:
        for packet in container.demux(*streams):
            if packet.pts is None or packet.size == 0:
                continue
            if video is not None and packet.stream.index == video.index:
                counts.video_pts.append(packet.pts)
                if len(counts.video_pts) > max_frames:
                    _raise_frame_limit(len(counts.video_pts), pixels_per_frame, limits)
                span = (counts.video_pts[-1] - counts.video_pts[0]) * video.time_base
                if span > limits.max_duration_seconds:
                    raise LimitExceededError(
                        "duration", f"over {float(span):.1f} s", f"{limits.max_duration_seconds:g} s"
                    )
            else:
                end = packet.pts + (packet.duration or 0)
                counts.audio_start = (
                    packet.pts if counts.audio_start is None else min(counts.audio_start, packet.pts)
                )
                counts.audio_end = end if counts.audio_end is None else max(counts.audio_end, end)
                assert audio is not None
                if (counts.audio_end - counts.audio_start) * audio.time_base > limits.max_duration_seconds:
                    raise LimitExceededError("duration", "audio longer", f"{limits.max_duration_seconds:g} s")
    except av.InvalidDataError as error:
        raise CorruptFileError(
            f"invalid data after {len(counts.video_pts)} frames: {error.strerror}"
        ) from None
    return counts


def _raise_frame_limit(count: int, pixels_per_frame: int, limits: MediaLimits) -> None:
    if count > limits.max_frames:
        raise LimitExceededError("frames", f"more than {limits.max_frames}", limits.max_frames)
    raise LimitExceededError(
        "pixels",
        f"more than {limits.max_total_pixels}",
        limits.max_total_pixels,
        f"{count} frames of {pixels_per_frame} pixels exceed the decoding budget of "
        f"{limits.max_total_pixels} pixels",
    )


def _video_info(
    container: InputContainer, opened: OpenedFile, stream: VideoStream, counts: _PacketCounts
) -> VideoInfo:
    pts = np.sort(np.asarray(counts.video_pts, dtype=np.int64))
    frame_count = len(pts)
    if frame_count == 0:
        if stream.frames > 0:
            raise TruncatedFileError(f"the header lists {stream.frames} frames but the file holds none")
        raise CorruptFileError("the video stream holds no frames")
    deltas = np.diff(pts)
    typical = int(np.median(deltas)) if len(deltas) else 0
    variable = bool(len(deltas) and deltas.max() - deltas.min() > max(1, 0.02 * typical))
    time_base = as_fraction(stream.time_base) or Fraction(0)
    fps = _frame_rate(stream, pts, time_base, opened.container)
    duration = (int(pts[-1] - pts[0]) + typical) * time_base if variable else frame_count / fps
    if opened.container in (MP4, MOV) and stream.frames > frame_count:
        raise TruncatedFileError(
            f"the file is cut short: its index lists {stream.frames} frames, only {frame_count} are present"
        )
    if container.duration and not variable:
        expected = container.duration / av.time_base * float(fps)
        if frame_count < 0.9 * expected - 1:
            raise TruncatedFileError(
                f"the file is cut short: {frame_count} frames where its header "
                f"promises about {round(expected)}"
            )
    return VideoInfo(
        codec=stream.codec_context.codec.canonical_name,
        width=stream.codec_context.width,
        height=stream.codec_context.height,
        rotation=rotation_of(stream),
        fps=fps,
        frame_count=frame_count,
        variable_frame_rate=variable,
        duration=duration,
    )


def _frame_rate(
    stream: VideoStream, pts: np.ndarray, time_base: Fraction, container: ContainerFormat
) -> Fraction:
    """The declared rate that agrees with the packet timestamps, else the measured rate itself.

    Declared rates can be wrong (an AVI with B-frames has shuffled timestamps, so they are trusted
    within 5 %). GIF is the exception: its delays are whole centiseconds (24 fps is stored as
    4,4,5,4,4,5… cs) and FFmpeg's declared rates for it are guesses (25, 24000/1001), so the rate is
    the simplest one the timestamps allow."""
    rates = (stream.average_rate, stream.guessed_rate, stream.base_rate)
    declared = [rate for rate in map(as_fraction, rates) if rate is not None]
    span = int(pts[-1] - pts[0]) * time_base if len(pts) > 1 else Fraction(0)
    if span <= 0:
        if declared:
            return declared[0]
        raise CorruptFileError("the video stream has no frame rate")
    measured = (len(pts) - 1) / span
    if container is GIF:
        resolution = (len(pts) - 1) * time_base / span**2  # how far one tick of error moves the rate
        whole = Fraction(round(measured))
        return whole if abs(whole - measured) <= resolution else measured.limit_denominator(100)
    closest = min(declared, key=lambda rate: abs(rate - measured), default=None)
    if closest is not None and abs(closest - measured) <= measured / 20:
        return closest
    return measured.limit_denominator(1001)


def _audio_info(stream: AudioStream, counts: _PacketCounts) -> AudioInfo | None:
    if counts.audio_start is None or counts.audio_end is None:
        return None
    context = stream.codec_context
    if context.sample_rate <= 0 or context.channels <= 0:
        raise CorruptFileError("the audio stream has no sample rate or channel count")
    time_base = as_fraction(stream.time_base) or Fraction(1, context.sample_rate)
    duration = (counts.audio_end - max(counts.audio_start, 0)) * time_base
    return AudioInfo(context.codec.canonical_name, context.sample_rate, context.channels, duration)
