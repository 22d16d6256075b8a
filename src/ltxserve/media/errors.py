"""One exception per way a media file can be refused, each with a stable machine-readable code."""

from typing import Any, ClassVar


class MediaError(Exception):
    """A media file that cannot be used; `code` is stable, the message says why in words."""

    code: ClassVar[str] = "media_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross the probe sandbox's process boundary by pickling.
        return (_rebuild, (type(self), self.__dict__))


def _rebuild(cls: type[MediaError], state: dict[str, Any]) -> MediaError:
    error = cls.__new__(cls)
    Exception.__init__(error, state["message"])
    error.__dict__.update(state)
    return error


class FileMissingError(MediaError):
    code = "not_found"


class UnsafePathError(MediaError):
    """A symlink, FIFO, device, socket or directory: never opened, because reading it could hang or leak."""

    code = "unsafe_path"


class EmptyFileError(MediaError):
    code = "empty_file"


class UnrecognizedFormatError(MediaError):
    """Bytes that are none of the accepted formats."""

    code = "unrecognized_format"


class PlaylistNotAllowedError(MediaError):
    """ffconcat scripts and HLS playlists make a demuxer read other files or URLs."""

    code = "playlist_not_allowed"


class FormatMismatchError(MediaError):
    """The content is a different kind of media than the file name says (a PNG named .mp4)."""

    code = "format_mismatch"


class TruncatedFileError(MediaError):
    code = "truncated"


class CorruptFileError(MediaError):
    code = "corrupt"


class NoVideoStreamError(MediaError):
    code = "no_video_stream"


class NoAudioStreamError(MediaError):
    code = "no_audio_stream"


class NotAnImageError(MediaError):
    code = "not_an_image"


class LimitExceededError(MediaError):
    """A limit checked before any decoding: `limit` names which one."""

    code = "limit_exceeded"

    def __init__(self, limit: str, value: object, maximum: object, message: str | None = None) -> None:
        super().__init__(message or f"{limit} {value} exceeds the limit of {maximum}")
        self.limit = limit
        self.value = value
        self.maximum = maximum


class ProbeTimeoutError(MediaError):
    code = "probe_timeout"


class ProbeCrashedError(MediaError):
    """The sandboxed probe died (memory cap reached, or a signal) instead of answering."""

    code = "probe_crashed"
