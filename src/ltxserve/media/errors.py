"""One exception per way a media file can be refused, each with a stable machine-readable code."""

from typing import Any, ClassVar


class MediaError(Exception):
    """A media file that cannot be used; `code` is stable, the message says why in words."""

    code: ClassVar[str] = "media_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_json(self) -> dict[str, Any]:
        """How the error crosses the probe sandbox's process boundary (`media_error` reads it back)."""
        state = {name: _plain(value) for name, value in vars(self).items()}
        return {"type": type(self).__name__, "state": state}


def _plain(value: object) -> object:
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


def media_error(data: dict[str, Any]) -> MediaError:
    """The MediaError `to_json` wrote; only this module's error types are made, and only with text
    and numbers in them. An answer that is none of them is a ProbeCrashedError."""
    kinds = {kind.__name__: kind for kind in _media_errors(MediaError)}
    kind, state = kinds.get(str(data.get("type"))), data.get("state")
    if kind is None or not isinstance(state, dict) or not isinstance(state.get("message"), str):
        return ProbeCrashedError("the probe answered with an error that is not one of ours")
    error = kind.__new__(kind)
    Exception.__init__(error, state["message"])
    error.__dict__.update({str(name): _plain(value) for name, value in state.items()})
    return error


def _media_errors(kind: type[MediaError]) -> list[type[MediaError]]:
    return [kind, *(each for child in kind.__subclasses__() for each in _media_errors(child))]


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
