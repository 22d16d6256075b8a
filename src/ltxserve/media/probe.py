"""`probe`: what an untrusted file is, decided in a sandboxed child process."""

from pathlib import Path

from ltxserve.media.errors import ProbeCrashedError
from ltxserve.media.formats import MediaKind
from ltxserve.media.info import MediaInfo
from ltxserve.media.inspect import inspect_to_json
from ltxserve.media.limits import MediaLimits
from ltxserve.media.sandbox import run_isolated

DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_MEMORY_BYTES = 1536 << 20


def probe(
    path: Path,
    *,
    limits: MediaLimits = MediaLimits(),
    require: MediaKind | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    memory_bytes: int = DEFAULT_MEMORY_BYTES,
) -> MediaInfo:
    """Inspect `path` without trusting it: limits are checked before any decoding, in a child process
    that is killed after `timeout` seconds and cannot use more than `memory_bytes` of memory.

    `require` names what the caller needs (a video, an image, an audio track) and turns its absence
    into a specific error. Every refusal is a `MediaError` subclass with a stable `code`.
    """
    answer = run_isolated(
        inspect_to_json, str(path), limits, require, timeout=timeout, memory_bytes=memory_bytes, what="probe"
    )
    try:
        return MediaInfo.from_json(answer)
    except (KeyError, TypeError, ValueError) as error:
        raise ProbeCrashedError(f"probe answered what is not a description of a file: {error!r}") from None
