"""Which container a file really is, decided from its first bytes, never from FFmpeg's probing.

FFmpeg's own format probing will happily open an ffconcat script or an HLS playlist that points at
other files. We sniff the magic bytes ourselves and then force exactly one demuxer, so only the
formats listed here can ever be opened.
"""

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ltxserve.media.errors import FormatMismatchError, PlaylistNotAllowedError, UnrecognizedFormatError


class MediaKind(StrEnum):
    VIDEO = "video"
    IMAGE = "image"
    AUDIO = "audio"


@dataclass(frozen=True)
class ContainerFormat:
    name: str
    demuxer: str
    kind: MediaKind


MP4 = ContainerFormat("mp4", "mov", MediaKind.VIDEO)
MOV = ContainerFormat("mov", "mov", MediaKind.VIDEO)
M4A = ContainerFormat("m4a", "mov", MediaKind.AUDIO)
MATROSKA = ContainerFormat("mkv", "matroska", MediaKind.VIDEO)
WEBM = ContainerFormat("webm", "matroska", MediaKind.VIDEO)
AVI = ContainerFormat("avi", "avi", MediaKind.VIDEO)
MPEGTS = ContainerFormat("ts", "mpegts", MediaKind.VIDEO)
GIF = ContainerFormat("gif", "gif", MediaKind.VIDEO)
PNG = ContainerFormat("png", "png_pipe", MediaKind.IMAGE)
JPEG = ContainerFormat("jpeg", "jpeg_pipe", MediaKind.IMAGE)
WEBP = ContainerFormat("webp", "webp_pipe", MediaKind.IMAGE)
WAV = ContainerFormat("wav", "wav", MediaKind.AUDIO)
MP3 = ContainerFormat("mp3", "mp3", MediaKind.AUDIO)
OGG = ContainerFormat("ogg", "ogg", MediaKind.AUDIO)
FLAC = ContainerFormat("flac", "flac", MediaKind.AUDIO)
AAC = ContainerFormat("aac", "aac", MediaKind.AUDIO)

# What a file's extension promises; a file without a known extension promises nothing.
_EXTENSION_KIND = {
    **dict.fromkeys([".mp4", ".m4v", ".mov", ".qt", ".mkv", ".webm", ".avi", ".ts", ".gif"], MediaKind.VIDEO),
    **dict.fromkeys([".png", ".jpg", ".jpeg", ".webp"], MediaKind.IMAGE),
    **dict.fromkeys([".wav", ".mp3", ".m4a", ".ogg", ".oga", ".opus", ".flac", ".aac"], MediaKind.AUDIO),
}

SNIFF_BYTES = 4096
_MP4_AUDIO_BRANDS = {b"M4A ", b"M4B "}
_QUICKTIME_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


def sniff(head: bytes) -> ContainerFormat:
    """Identify the container from the first bytes of a file (at least SNIFF_BYTES when available)."""
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _MP4_AUDIO_BRANDS:
            return M4A
        return MOV if brand == b"qt  " else MP4
    if head[4:8] in _QUICKTIME_ATOMS:
        return MOV
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return WEBM if b"webm" in head[:64] else MATROSKA
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"RIFF") and head[8:12] in (b"WEBP", b"WAVE", b"AVI "):
        return {b"WEBP": WEBP, b"WAVE": WAV, b"AVI ": AVI}[head[8:12]]
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head.startswith(b"OggS"):
        return OGG
    if head.startswith(b"fLaC"):
        return FLAC
    if head.startswith(b"ID3") or _two_frames(_mp3_frame_length, head):
        return MP3
    if _two_frames(_adts_frame_length, head):
        return AAC
    if len(head) > 376 and head[0] == head[188] == head[376] == 0x47:
        return MPEGTS
    if _looks_like_playlist(head):
        raise PlaylistNotAllowedError(
            "playlists and concat scripts are not accepted: they make the demuxer open other files"
        )
    raise UnrecognizedFormatError("not a recognised video, image or audio format")


# MPEG audio Layer III bitrates (kbit/s) by version; sample rates by version.
_MP3_BITRATES = {
    3: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),  # MPEG-1
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),  # MPEG-2
    0: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),  # MPEG-2.5
}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mp3_frame_length(data: bytes, offset: int) -> int:
    """Length of the MPEG-1/2/2.5 Layer III frame whose header starts at `offset`; 0 if there is none.
    Two consecutive valid headers make random bytes (1 in ~5000 start with a plausible one) fail."""
    header = data[offset : offset + 4]
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return 0
    version, layer = (header[1] >> 3) & 3, (header[1] >> 1) & 3
    bitrate_index, rate_index, padding = header[2] >> 4, (header[2] >> 2) & 3, (header[2] >> 1) & 1
    if version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
        return 0
    bitrate, rate = _MP3_BITRATES[version][bitrate_index] * 1000, _MP3_RATES[version][rate_index]
    return (144 if version == 3 else 72) * bitrate // rate + padding


def _two_frames(frame_length: Callable[[bytes, int], int], head: bytes) -> bool:
    """Frame-synced audio (MP3, ADTS) is recognised by two valid headers in a row."""
    first = frame_length(head, 0)
    return first > 0 and frame_length(head, first) > 0


def _adts_frame_length(data: bytes, offset: int) -> int:
    """Length of the ADTS (raw AAC) frame whose header starts at `offset`; 0 if there is none."""
    header = data[offset : offset + 7]
    if len(header) < 7 or header[0] != 0xFF or header[1] & 0xF6 != 0xF0 or (header[2] >> 2) & 0xF > 12:
        return 0
    length = ((header[3] & 3) << 11) | (header[4] << 3) | (header[5] >> 5)
    return length if length >= 7 else 0


def _looks_like_playlist(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return text.startswith((b"ffconcat", b"#extm3u", b"file ", b"[playlist]", b"<?xml", b"<smil"))


def check_extension(path: Path, container: ContainerFormat) -> None:
    """Refuse a file whose name claims another kind of media than its content (a PNG named clip.mp4)."""
    claimed = _EXTENSION_KIND.get(path.suffix.lower())
    if claimed is None or claimed == container.kind:
        return
    # An .ogg or .mp4 name on audio-only content is normal (Ogg Vorbis, AAC in MP4).
    if claimed is MediaKind.VIDEO and container.kind is MediaKind.AUDIO and container in (M4A, OGG):
        return
    if claimed is MediaKind.AUDIO and container in (MP4, OGG):
        return
    raise FormatMismatchError(
        f"the file is named {path.suffix} ({claimed.value}) but contains {container.name.upper()} "
        f"{container.kind.value} data"
    )
