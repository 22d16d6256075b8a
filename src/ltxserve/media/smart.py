"""Smart rendering: an edit of a source written with the source's own packets wherever the edit leaves
its pictures and sound alone, and only the rest encoded.

Video is copied in whole closed GOPs: a run of the source's packets starts at a keyframe that nothing
after it refers back past, and ends where another such keyframe (or the stream) begins. The frames
between a cut and an edit are decoded and encoded again with the new ones, by the source's codec
(H.264 or HEVC) at its size and pixel format, each encoded run opening with an IDR picture that
carries its own parameter sets; a copied run after an encoded one gets the source's parameter sets
back in front of its first picture. Encoded pictures have no B-frames, so their decode times can sit
just behind their display times at the source's own delay, and the copied packets' timestamps do not
move (or all move by the length put before them).

Audio is copied in whole codec frames (AAC or Opus) whose transform windows (their own samples and
the next frame's) hold only the source's sound. Around an edit the output's sound is encoded on
the same frame grid, starting two frames early so the encoder has settled, and the frames that were
encoded only to prime it are dropped: at a seam the decoder overlaps a copied frame with an encoded
frame of the same sound, so there is no click. (An Opus decoder also carries state from frame to
frame: the copied frames after an encoded run take up to half a second to decode bit for bit again,
a smooth difference that fades, not a jump.)

Everything else (another codec, another container asked for, a frame rate that varies, a pixel format
other than 8-bit 4:2:0) is encoded whole, and `Written.full_encode` says why.
"""

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from itertools import pairwise
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.audio.stream import AudioStream
from av.container import InputContainer, OutputContainer
from av.video.stream import VideoStream

from ltxserve.media.clip import AudioTrack, Frames
from ltxserve.media.decode import iter_coded_frames, iter_frames
from ltxserve.media.encode import (
    EncodeOptions,
    OutputFormat,
    VideoWriter,
    audio_bit_rate,
    open_output,
    rate_control,
)
from ltxserve.media.info import MediaInfo, VideoInfo
from ltxserve.media.source import open_media
from ltxserve.media.streams import as_fraction, first_video_stream, rotation_of, sws_colorspace


@dataclass(frozen=True)
class SourceFrames:
    """The source's frames [start, stop), as they are."""

    start: int
    stop: int


@dataclass(frozen=True)
class NewFrames:
    """`count` new uint8 RGB frames, the right way up (read as they are written out)."""

    frames: Iterable[Frames]
    count: int


Piece = SourceFrames | NewFrames


@dataclass(frozen=True)
class Edit:
    """An output made of pieces of the source and new frames, in order, and its whole sound on the
    output's clock, of which the sample ranges `kept_audio` are the source's own sound moved
    `audio_shift` samples later."""

    pieces: tuple[Piece, ...]
    audio: AudioTrack | None
    kept_audio: tuple[tuple[int, int], ...] = ()
    audio_shift: int = 0

    @property
    def frame_count(self) -> int:
        return sum(map(_length, self.pieces))


@dataclass(frozen=True)
class Written:
    """How an edit was written: frames and audio frames copied from the source or encoded."""

    copied_frames: int
    encoded_frames: int
    copied_audio_frames: int = 0
    encoded_audio_frames: int = 0
    full_encode: str | None = None
    """Why nothing was copied; None when the source's packets were."""

    @property
    def notes(self) -> dict[str, object]:
        return asdict(self)


def write_edit(
    source: Path, info: MediaInfo, edit: Edit, output: Path, options: EncodeOptions, *, copy: bool = True
) -> Written:
    """Write `edit` of `source` to `output`, copying what it can (see the module's docstring) unless
    `copy` is False."""
    video = info.video
    assert video is not None
    index = _index(source, video, options) if copy else "copying the source was turned off"
    if isinstance(index, str):
        _encode_whole(source, video, edit, output, options)
        return Written(0, edit.frame_count, full_encode=index)
    return _Copier(source, index, edit, output, options).write()


def _encode_whole(source: Path, video: VideoInfo, edit: Edit, output: Path, options: EncodeOptions) -> None:
    def frames() -> Iterator[Frames]:
        for piece in edit.pieces:
            yield from (
                iter_frames(source, piece.start, piece.stop)
                if isinstance(piece, SourceFrames)
                else piece.frames
            )

    with VideoWriter(
        output,
        width=video.display_width,
        height=video.display_height,
        fps=video.fps,
        audio=edit.audio,
        options=options,
    ) as writer:
        writer.write_all(frames())


type _Packet = av.Packet[Any]
_ENCODERS = {"h264": "libx264", "hevc": "libx265"}
_AUDIO_ENCODERS = {"aac": "aac", "opus": "libopus"}
_AAC_FRAME = 1024
_COPIED_PIXELS = "yuv420p"
_AUDIO_PRIMING_FRAMES = 2
"""Frames of sound encoded before a run only to settle the encoder; dropped."""


@dataclass(frozen=True)
class _VideoIndex:
    """What copying the source's video packets needs to know of them: they are on a constant frame
    grid, and where they can be cut."""

    first_pts: int
    step: int
    delay: int
    """How far the decode time of a picture that starts a GOP runs ahead of its display time."""
    cuts: dict[int, int]
    """Frame index → decode position of each clean cut: a keyframe nothing after it refers back past,
    and the end of the stream."""
    parameter_sets: bytes
    """The stream's parameter sets (SPS/PPS, and VPS for HEVC), each length-prefixed."""
    length_size: int
    encoder: str
    time_base: Fraction
    rotation: int
    colorspace: str


def _index(source: Path, video: VideoInfo, options: EncodeOptions) -> "_VideoIndex | str":
    """The source's packets ready to copy, or why they cannot be."""
    if options.format is not OutputFormat.MP4:
        return f"the output is {options.format.value}; the source's packets are copied into mp4 only"
    with open_media(source) as (_, container):
        stream = first_video_stream(container)
        assert stream is not None
        context = stream.codec_context
        if context.name not in _ENCODERS:
            return f"the source's video is {context.name}; only H.264 and HEVC packets are copied"
        if context.pix_fmt != _COPIED_PIXELS:
            return f"the source's pixels are {context.pix_fmt}; only 8-bit 4:2:0 ({_COPIED_PIXELS}) is copied"
        framing = _framing(context.name, bytes(context.extradata or b""))
        if framing is None:
            return "the source's stream is not in MP4 framing (no avcC/hvcC parameter sets)"
        time_base = as_fraction(stream.time_base)
        assert time_base is not None
        rotation, colorspace = rotation_of(stream), sws_colorspace(context.colorspace)
        demuxed = [p for p in container.demux(stream) if p.size]
    packets = [(p.pts, p.dts, p.is_keyframe) for p in demuxed if p.pts is not None and p.dts is not None]
    if len(packets) != len(demuxed):
        return "some of the source's packets have no timestamps"
    pts = [p for p, _, _ in packets]
    shown = sorted(pts)
    steps = {b - a for a, b in pairwise(shown)}
    if len(shown) != video.frame_count or len(steps) > 1:
        return "the source's frame rate varies; its frames are re-timed and encoded whole"
    step = steps.pop() if steps else 1
    if Fraction(step) * time_base != 1 / video.fps:
        return "the source's timestamps do not follow its frame rate"
    first = shown[0]
    cuts = {len(shown): len(packets)}
    highest: int | None = None
    lowest_after = list(pts)
    for position in range(len(pts) - 2, -1, -1):
        lowest_after[position] = min(pts[position], lowest_after[position + 1])
    for position, (shown_at, _, keyframe) in enumerate(packets):
        if keyframe and (highest is None or highest < shown_at) and lowest_after[position] == shown_at:
            cuts[(shown_at - first) // step] = position
        highest = shown_at if highest is None else max(highest, shown_at)
    parameter_sets, length_size = framing
    return _VideoIndex(
        first,
        step,
        max(packets[at][0] - packets[at][1] for at in cuts.values() if at < len(packets)),
        cuts,
        parameter_sets,
        length_size,
        _ENCODERS[context.name],
        time_base,
        rotation,
        colorspace,
    )


def _framing(codec: str, extradata: bytes) -> tuple[bytes, int] | None:
    """(parameter sets, each prefixed by its length, and the length's size in bytes) from an avcC or
    hvcC record; None for Annex B framing."""
    if not extradata or extradata[0] != 1:
        return None
    units: list[bytes] = []
    if codec == "h264":
        length_size = (extradata[4] & 3) + 1
        at = 5
        for mask in (0x1F, 0xFF):  # the SPS count's byte holds 3 reserved bits
            count = extradata[at] & mask
            at += 1
            for _ in range(count):
                size = int.from_bytes(extradata[at : at + 2], "big")
                units.append(extradata[at + 2 : at + 2 + size])
                at += 2 + size
    else:
        length_size = (extradata[21] & 3) + 1
        at = 23
        for _ in range(extradata[22]):
            count = int.from_bytes(extradata[at + 1 : at + 3], "big")
            at += 3
            for _ in range(count):
                size = int.from_bytes(extradata[at : at + 2], "big")
                units.append(extradata[at + 2 : at + 2 + size])
                at += 2 + size
    return b"".join(len(unit).to_bytes(length_size, "big") + unit for unit in units), length_size


@dataclass(frozen=True)
class _Copy:
    """The source's packets at decode positions [first, stop), their frames moved `shift` frames."""

    first: int
    stop: int
    frames: int
    shift: int


@dataclass(frozen=True)
class _Encode:
    """Pieces encoded as one run of pictures, starting at output frame `at`."""

    pieces: tuple[Piece, ...]
    at: int


def _length(piece: Piece) -> int:
    return piece.stop - piece.start if isinstance(piece, SourceFrames) else piece.count


def _encode_in(runs: list[_Copy | _Encode], piece: Piece, at: int) -> None:
    """Add `piece` (at output frame `at`) to the run being encoded, or start one."""
    if runs and isinstance(runs[-1], _Encode):
        runs[-1] = _Encode((*runs[-1].pieces, piece), runs[-1].at)
    else:
        runs.append(_Encode((piece,), at))


class _Copier:
    def __init__(self, source: Path, index: _VideoIndex, edit: Edit, output: Path, options: EncodeOptions):
        self._source, self._index, self._edit = source, index, edit
        self._output, self._options = output, options

    def write(self) -> Written:
        runs = self._video_runs()
        container = open_output(self._output, self._options)
        try:
            with open_media(self._source) as (_, source):
                video_in = first_video_stream(source)
                assert video_in is not None
                video_out = container.add_stream_from_template(video_in)
                video_out.time_base = video_in.time_base
                start = self._index.first_pts * self._index.time_base
                audio = _AudioWriter.for_edit(self._source, container, self._edit, self._options, start)
                copied = self._write_video(container, source, video_in, video_out, runs, audio)
                audio.finish()
        except BaseException:
            container.close()
            self._output.unlink(missing_ok=True)
            raise
        container.close()
        return Written(copied, self._edit.frame_count - copied, audio.copied, audio.encoded, full_encode=None)

    def _video_runs(self) -> list[_Copy | _Encode]:
        """The output as runs of copied packets and of encoded pictures, in order: each piece of the
        source copied from its first cut to its last, what lies outside them encoded with the new
        frames next to it."""
        runs: list[_Copy | _Encode] = []
        cuts = sorted(self._index.cuts)
        at = 0
        for piece in self._edit.pieces:
            first = last = None
            if isinstance(piece, SourceFrames):
                first = next((c for c in cuts if c >= piece.start), None)
                last = next((c for c in reversed(cuts) if c <= piece.stop), None)
            if not isinstance(piece, SourceFrames) or first is None or last is None or first >= last:
                _encode_in(runs, piece, at)
            else:
                if first > piece.start:
                    _encode_in(runs, SourceFrames(piece.start, first), at)
                shift = at - piece.start
                runs.append(_Copy(self._index.cuts[first], self._index.cuts[last], last - first, shift))
                if piece.stop > last:
                    _encode_in(runs, SourceFrames(last, piece.stop), last + shift)
            at += _length(piece)
        return runs

    def _write_video(
        self,
        container: OutputContainer,
        source: InputContainer,
        video_in: VideoStream,
        video_out: VideoStream,
        runs: list[_Copy | _Encode],
        audio: "_AudioWriter",
    ) -> int:
        index = self._index
        packets = (p for p in source.demux(video_in) if p.size)
        position = 0
        copied = 0
        after_encoded = False
        for run in runs:
            if isinstance(run, _Encode):
                for packet in self._encoded(run):
                    assert packet.dts is not None
                    packet.stream = video_out
                    audio.until(packet.dts * index.time_base)
                    container.mux(packet)
                after_encoded = True
                continue
            for packet in packets:
                position += 1
                if position - 1 < run.first:
                    continue
                moved = run.shift * index.step
                if after_encoded:
                    packet = _with_prefix(packet, index.parameter_sets)
                    after_encoded = False
                assert packet.pts is not None and packet.dts is not None
                packet.pts, packet.dts = packet.pts + moved, packet.dts + moved
                packet.stream = video_out
                audio.until(packet.dts * index.time_base)
                container.mux(packet)
                if position == run.stop:
                    break
            copied += run.frames
        return copied

    def _encoded(self, run: _Encode) -> Iterator[_Packet]:
        index = self._index
        encoder = av.CodecContext.create(index.encoder, "w")
        assert isinstance(encoder, av.VideoCodecContext)
        first = next(iter_coded_frames(self._source, 0, 1))
        encoder.width, encoder.height, encoder.pix_fmt = first.width, first.height, _COPIED_PIXELS
        encoder.time_base = index.time_base
        encoder.framerate = 1 / (index.step * index.time_base)
        encoder.colorspace, encoder.color_range = first.colorspace, first.color_range
        encoder.color_primaries, encoder.color_trc = first.color_primaries, first.color_trc
        params = "repeat-headers=1:bframes=0"
        encoder.options = {
            **rate_control(index.encoder, self._options),
            **(
                {"x264-params": params}
                if index.encoder == "libx264"
                else {"x265-params": f"{params}:open-gop=0:log-level=error"}
            ),
        }
        number = run.at
        for picture in self._pictures(run, first):
            picture.pts = index.first_pts + number * index.step
            picture.time_base = index.time_base
            number += 1
            yield from self._framed(encoder.encode(picture))
        yield from self._framed(encoder.encode(None))

    def _pictures(self, run: _Encode, like: av.VideoFrame) -> Iterator[av.VideoFrame]:
        index = self._index
        for piece in run.pieces:
            if isinstance(piece, SourceFrames):
                yield from iter_coded_frames(self._source, piece.start, piece.stop)
                continue
            for frame in piece.frames:
                upright = np.ascontiguousarray(np.rot90(frame, k=index.rotation // 90))
                yield av.VideoFrame.from_ndarray(upright, format="rgb24").reformat(
                    format=_COPIED_PIXELS,
                    dst_colorspace=index.colorspace,
                    dst_color_range="JPEG" if like.color_range == 2 else "MPEG",
                    interpolation="BICUBIC",
                )

    def _framed(self, packets: list[_Packet]) -> Iterator[_Packet]:
        """The encoder's Annex B packets in the source's length-prefixed framing, decoded `delay`
        ahead of display like the source's."""
        index = self._index
        for packet in packets:
            assert packet.pts is not None
            framed = av.Packet(_length_prefixed(bytes(packet), index.length_size))
            framed.pts, framed.dts = packet.pts, packet.pts - index.delay
            framed.duration, framed.time_base = index.step, index.time_base
            framed.is_keyframe = packet.is_keyframe
            yield framed


def _length_prefixed(annex_b: bytes, length_size: int) -> bytes:
    units = annex_b.replace(b"\x00\x00\x00\x01", b"\x00\x00\x01").split(b"\x00\x00\x01")
    return b"".join(len(unit).to_bytes(length_size, "big") + unit for unit in units if unit)


def _with_prefix(packet: _Packet, prefix: bytes) -> _Packet:
    prefixed = av.Packet(prefix + bytes(packet))
    prefixed.pts, prefixed.dts, prefixed.duration = packet.pts, packet.dts, packet.duration
    prefixed.time_base, prefixed.is_keyframe = packet.time_base, packet.is_keyframe
    return prefixed


class _AudioWriter:
    """The output's sound as packets, copied from the source where `Edit.kept_audio` allows, muxed
    in time with the video."""

    def __init__(self, container: OutputContainer, packets: list[_Packet], copied: int) -> None:
        self._container = container
        self._packets = packets
        self._next = 0
        self.copied = copied
        self.encoded = len(packets) - copied

    @classmethod
    def for_edit(
        cls, source: Path, container: OutputContainer, edit: Edit, options: EncodeOptions, start: Fraction
    ) -> "_AudioWriter":
        """`start`: when the first frame shows, in the file's time; the output's sound is laid out
        from that instant (sample 0 of `edit.audio`)."""
        if edit.audio is None:
            return cls(container, [], 0)
        audio = edit.audio
        origin = round(start * audio.sample_rate)
        with open_media(source) as (_, opened):
            source_stream = opened.streams.audio[0] if opened.streams.audio else None
            if source_stream is not None and _copyable(source_stream, audio):
                stream = container.add_stream_from_template(source_stream)
                stream.time_base = Fraction(1, audio.sample_rate)
                frames = [p for p in opened.demux(source_stream) if p.size]
                for frame in frames:
                    assert frame.pts is not None
                    frame.pts = frame.dts = frame.pts - origin
                writer = cls._copying(container, stream, frames, edit, options)
                writer._move(origin)
                return writer
        stream = container.add_stream(
            "aac", rate=audio.sample_rate, layout="stereo" if audio.channels == 2 else "mono"
        )
        stream.bit_rate = audio_bit_rate("aac", options.quality)
        packets = _encode_audio(audio, stream.codec_context, None, None, _AAC_FRAME)
        for packet in packets:
            packet.stream = stream
        writer = cls(container, packets, 0)
        writer._move(origin)
        return writer

    def _move(self, samples: int) -> None:
        """Put the packets, laid out from the first frame's instant, at their time in the file."""
        for packet in self._packets:
            assert packet.pts is not None
            packet.pts = packet.dts = packet.pts + samples

    @classmethod
    def _copying(
        cls,
        container: OutputContainer,
        stream: AudioStream,
        frames: list[_Packet],
        edit: Edit,
        options: EncodeOptions,
    ) -> "_AudioWriter":
        assert edit.audio is not None
        audio = edit.audio
        durations = [p.duration for p in frames if p.duration]
        size = max(set(durations), key=durations.count) if durations else _AAC_FRAME  # the codec's frame
        end = audio.samples.shape[1]
        # a kept range reaching an end of the output reaches past it (the source's priming frame)
        kept = [(lo if lo > 0 else -(2**62), hi if hi < end else 2**62) for lo, hi in edit.kept_audio]

        def copyable(packet: _Packet) -> bool:
            assert packet.pts is not None and packet.duration is not None
            at = packet.pts + edit.audio_shift
            whole = packet.duration == size or at + packet.duration == end
            # its transform's window spans its own samples and the next frame's
            return whole and any(lo <= at and at + 2 * size <= hi for lo, hi in kept)

        runs: list[list[_Packet]] = [[]]
        for packet in frames:
            if copyable(packet):
                runs[-1].append(packet)
            elif runs[-1]:
                runs.append([])
        packets: list[_Packet] = []
        copied = 0
        covered: int | None = None  # where the packets so far end (None: nothing yet)
        for run in (r for r in runs if r):
            first = run[0].pts + edit.audio_shift  # type: ignore[operator]
            if covered is not None or first > 0:
                packets += _encode_run(audio, stream, options, covered, first, size)
            for packet in run:
                packet.pts = packet.dts = packet.pts + edit.audio_shift  # type: ignore[operator]
                packet.time_base, packet.stream = stream.time_base, stream
                packets.append(packet)
            copied += len(run)
            covered = packets[-1].pts + packets[-1].duration  # type: ignore[operator]
        if covered is None or covered < end:
            packets += _encode_run(audio, stream, options, covered, None, size)
        return cls(container, packets, copied)

    def until(self, seconds: Fraction) -> None:
        """Mux the packets that start by `seconds`."""
        while self._next < len(self._packets):
            packet = self._packets[self._next]
            assert packet.pts is not None
            if packet.pts * packet.time_base > seconds:
                return
            self._container.mux(packet)
            self._next += 1

    def finish(self) -> None:
        for packet in self._packets[self._next :]:
            self._container.mux(packet)
        self._next = len(self._packets)


def _copyable(stream: AudioStream, audio: AudioTrack) -> bool:
    context = stream.codec_context
    return (
        context.name in _AUDIO_ENCODERS
        and context.sample_rate == audio.sample_rate
        and context.channels == audio.channels
        and as_fraction(stream.time_base) == Fraction(1, audio.sample_rate)
    )


def _encode_run(
    audio: AudioTrack,
    stream: AudioStream,
    options: EncodeOptions,
    start: int | None,
    stop: int | None,
    size: int,
) -> list[_Packet]:
    """Packets for samples [start, stop) on the frame grid of the copied packets around them, by the
    source's codec; a run with nothing before it starts the output, one with nothing after it ends it."""
    name = _AUDIO_ENCODERS[stream.codec_context.name]
    encoder = av.CodecContext.create(name, "w")
    assert isinstance(encoder, av.AudioCodecContext)
    encoder.sample_rate, encoder.layout = audio.sample_rate, stream.layout
    formats = {f.name for f in encoder.codec.audio_formats or ()}
    encoder.format = "fltp" if "fltp" in formats else "flt"
    encoder.time_base = Fraction(1, audio.sample_rate)
    encoder.bit_rate = audio_bit_rate(name, options.quality)  # not the source's: its mean, silence included
    encoder.open()
    packets = _encode_audio(audio, encoder, start, stop, size)
    for packet in packets:
        packet.stream = stream
    return packets


def _encode_audio(
    audio: AudioTrack, encoder: av.AudioCodecContext, start: int | None, stop: int | None, size: int
) -> list[_Packet]:
    """Encode the output's samples [start, stop) (None: from its beginning, to its end) so that its
    packets fall on the grid of frames of `size` that holds `start` (or `stop`), two frames early so
    the encoder has settled; only the packets inside the range are returned."""
    end = audio.samples.shape[1]
    delay = encoder.initial_padding  # a packet's timestamp is its first input sample's, less this
    if start is not None:
        feed = start + delay - (_AUDIO_PRIMING_FRAMES + -(-delay // size)) * size
    elif stop is not None:  # the output's start: whatever comes before it is silence
        feed = stop + delay - -(-(stop + delay) // size) * size
    else:
        feed = 0
    last = (stop + size if stop is not None else end) + delay
    packed = encoder.format.name == "flt"
    packets: list[_Packet] = []
    for at in range(feed, last, size):
        chunk = np.zeros((audio.channels, size), np.float32)
        lo, hi = max(at, 0), min(at + size, end)
        if hi > lo:
            chunk[:, lo - at : hi - at] = audio.samples[:, lo:hi]
        samples = chunk.T.reshape(1, -1) if packed else chunk
        picture = av.AudioFrame.from_ndarray(samples, format=encoder.format.name, layout=encoder.layout.name)
        picture.sample_rate, picture.pts = audio.sample_rate, at
        picture.time_base = Fraction(1, audio.sample_rate)
        packets += encoder.encode(picture)
    packets += encoder.encode(None)
    lowest = start if start is not None else -(2**62)
    highest = stop if stop is not None else end
    kept = [p for p in packets if p.pts is not None and lowest <= p.pts < highest]
    if stop is None and kept:
        tail = kept[-1]
        assert tail.pts is not None
        tail.duration = min(tail.duration or size, end - tail.pts)
    return kept
