"""Progress reports and cancellation, shared by the engine and whoever drives it (no torch here)."""

import threading
from collections.abc import Callable
from dataclasses import dataclass


class CancelledError(Exception):
    """The request was cancelled; the engine stopped between two steps and is ready for the next."""


class CancelToken:
    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@dataclass(frozen=True)
class Progress:
    stage: str
    step: int
    total: int


ProgressCallback = Callable[[Progress], None]
