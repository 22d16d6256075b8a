"""Sniffing decides the container from bytes alone; names must agree with content."""

from pathlib import Path

import pytest

from ltxserve.media import formats
from ltxserve.media.errors import FormatMismatchError, PlaylistNotAllowedError, UnrecognizedFormatError


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x00\x00\x00\x20ftypisom" + bytes(20), formats.MP4),
        (b"\x00\x00\x00\x14ftypqt  " + bytes(20), formats.MOV),
        (b"\x00\x00\x00\x20ftypM4A " + bytes(20), formats.M4A),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm" + bytes(20), formats.WEBM),
        (b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x88matroska" + bytes(20), formats.MATROSKA),
        (b"\x89PNG\r\n\x1a\n" + bytes(20), formats.PNG),
        (b"\xff\xd8\xff\xe0" + bytes(20), formats.JPEG),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", formats.WEBP),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", formats.WAV),
        (b"RIFF\x00\x00\x00\x00AVI LIST", formats.AVI),
        (b"GIF89a" + bytes(20), formats.GIF),
        (b"OggS" + bytes(20), formats.OGG),
        (b"fLaC" + bytes(20), formats.FLAC),
        (b"ID3\x04" + bytes(20), formats.MP3),
    ],
)
def test_magic_bytes(head: bytes, expected: formats.ContainerFormat) -> None:
    assert formats.sniff(head) is expected


def mp3_frames(count: int) -> bytes:
    # MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, no padding: 417-byte frames
    header = bytes([0xFF, 0xFB, 0x90, 0x00])
    return (header + bytes(413)) * count


def test_mp3_without_a_tag_needs_two_frames_in_a_row() -> None:
    assert formats.sniff(mp3_frames(2)) is formats.MP3
    with pytest.raises(UnrecognizedFormatError):
        formats.sniff(mp3_frames(1)[:417] + b"\x00" * 500)


def test_mpeg_ts_needs_sync_bytes_every_188() -> None:
    packet = b"\x47" + bytes(187)
    assert formats.sniff(packet * 4) is formats.MPEGTS


@pytest.mark.parametrize(
    "text",
    [
        b"ffconcat version 1.0\nfile a.mp4\n",
        b"#EXTM3U\n#EXTINF:10,\nhttp://x/a.ts\n",
        b"\xef\xbb\xbf#EXTM3U\n",
    ],
)
def test_playlists(text: bytes) -> None:
    with pytest.raises(PlaylistNotAllowedError):
        formats.sniff(text)


@pytest.mark.parametrize(
    ("name", "container"),
    [("a.png", formats.MP4), ("a.mp4", formats.PNG), ("a.wav", formats.JPEG), ("a.jpg", formats.WAV)],
)
def test_name_and_content_must_agree(name: str, container: formats.ContainerFormat) -> None:
    with pytest.raises(FormatMismatchError):
        formats.check_extension(Path(name), container)


@pytest.mark.parametrize(
    ("name", "container"),
    [
        ("a.mkv", formats.WEBM),
        ("a.mov", formats.MP4),
        ("upload", formats.PNG),
        ("a.m4a", formats.M4A),
        ("a.mp4", formats.M4A),
        ("a.m4a", formats.MP4),
        ("a.ogg", formats.OGG),
    ],
)
def test_compatible_names_are_accepted(name: str, container: formats.ContainerFormat) -> None:
    formats.check_extension(Path(name), container)
