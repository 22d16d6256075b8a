"""Opening a media file safely: a regular file only, one forced demuxer, no protocols."""

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import av
from av.container import InputContainer

from ltxserve.media.errors import (
    CorruptFileError,
    EmptyFileError,
    FileMissingError,
    TruncatedFileError,
    UnsafePathError,
)
from ltxserve.media.formats import SNIFF_BYTES, ContainerFormat, sniff

# Bounded stream analysis: the demuxer may not read unlimited data before we have checked limits.
_DEMUXER_OPTIONS = {"probesize": str(5 << 20), "analyzeduration": str(5_000_000)}


@dataclass(frozen=True)
class OpenedFile:
    file: BinaryIO
    size: int
    container: ContainerFormat


def open_regular_file(path: Path) -> BinaryIO:
    """Open for reading, refusing anything that is not a plain file: following a symlink could read
    another user's upload, and a FIFO or device can block forever or never end."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise FileMissingError("no such file") from None
    except OSError as error:
        if path.is_symlink():
            raise UnsafePathError("is a symbolic link; only regular files are read") from None
        raise UnsafePathError(f"cannot be opened ({error.strerror})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise UnsafePathError(f"is a {_describe(mode)}; only regular files are read")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def _describe(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


@contextmanager
def opened_file(path: Path) -> Iterator[OpenedFile]:
    """The open file, its size and its sniffed container format."""
    with open_regular_file(path) as file:
        size = os.fstat(file.fileno()).st_size
        if size == 0:
            raise EmptyFileError("the file is empty")
        head = file.read(SNIFF_BYTES)
        file.seek(0)
        yield OpenedFile(file, size, sniff(head))


@contextmanager
def demuxer(opened: OpenedFile) -> Iterator[InputContainer]:
    """PyAV input on the already-open file object with the sniffed demuxer forced."""
    try:
        container = av.open(opened.file, "r", format=opened.container.demuxer, options=_DEMUXER_OPTIONS)
    except av.error.EOFError:
        raise TruncatedFileError("the file ends before its headers do") from None
    except av.FFmpegError as error:
        raise CorruptFileError(
            f"{opened.container.name.upper()} data cannot be read: {_reason(error)}"
        ) from None
    with container:
        yield container


def _reason(error: av.FFmpegError) -> str:
    return error.strerror or type(error).__name__


@contextmanager
def open_media(path: Path) -> Iterator[tuple[OpenedFile, InputContainer]]:
    """Trusted-side opening (after a successful probe): the file and its demuxer."""
    with opened_file(path) as opened, demuxer(opened) as container:
        yield opened, container
