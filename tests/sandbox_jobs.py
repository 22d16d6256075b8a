"""Jobs for the sandbox tests; module-level so the sandboxed child can import them by name."""

import json
import os
import pickle
import signal
import stat
import struct
import time

from ltxserve.media.errors import CorruptFileError, LimitExceededError


def add(a: int, b: int) -> int:
    return a + b


def sleep_forever() -> None:
    time.sleep(3600)


def allocate(megabytes: int) -> int:
    block = bytearray(megabytes << 20)
    return len(block)


def refuse() -> None:
    raise CorruptFileError("the file is damaged")


def fail() -> None:
    raise RuntimeError("a bug")


def die() -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def pid() -> int:
    return os.getpid()


class _RunsOnLoad:
    """A pickle that makes a directory when it is loaded: what a compromised decoder could answer."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (os.mkdir, (self.marker,))


def _answer_on_every_socket(answer: bytes) -> None:
    """Write `answer` where the sandbox's real answer goes (the job's socket), then die before it."""
    for fd in range(3, 256):
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                os.write(fd, answer)
        except OSError:
            continue
    os._exit(0)


def answer_with_a_pickle(marker: str) -> None:
    payload = pickle.dumps(("ok", _RunsOnLoad(marker)))
    _answer_on_every_socket(struct.pack(">Q", len(payload)) + payload)


def answer_at_length(size: int) -> None:
    _answer_on_every_socket(struct.pack(">Q", size) + b"{" * min(size, 1 << 20))


def exceed() -> None:
    raise LimitExceededError("frames", 900, 505)


def answer_with_a_foreign_error() -> None:
    answer = json.dumps(["error", {"type": "SystemExit", "state": {"message": "bye"}}]).encode()
    _answer_on_every_socket(struct.pack(">Q", len(answer)) + answer)
