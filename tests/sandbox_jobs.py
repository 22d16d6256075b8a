"""Jobs for the sandbox tests; module-level so the sandboxed child can import them by name."""

import os
import signal
import time

from ltxserve.media.errors import CorruptFileError


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
