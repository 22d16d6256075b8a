"""Progress reports and cancellation, shared by the engine and whoever drives it (no torch here)."""

import threading
import time
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
    done: float = 0.0
    """How much of the whole request is done, 0 to 1, on the scale below."""


DENOISING = (0.05, 0.90)
"""Where the denoising steps of every stage sit on the scale of `Progress.done`, spread evenly over
all the steps: they are nearly all of a request's time. Before them: fetching, probing, loading and
encoding; after them the milestones below."""
DENOISING_STAGES = frozenset({"denoising", "refining"})
"""The stages whose steps are denoising steps (the second is the distilled upscale's)."""
DECODING = 0.90
WRITING = 0.96
STORING = 0.99


ProgressCallback = Callable[[Progress], None]


class StageClock:
    """Wall seconds per stage, read off the progress reports: a stage lasts from its first report
    until a report of another stage (or `stop`); a stage entered again adds to its total."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._stage: str | None = None
        self._since = 0.0

    def __call__(self, progress: Progress) -> None:
        self.enter(progress.stage)

    def enter(self, stage: str) -> None:
        if stage != self._stage:
            now = time.perf_counter()
            self._close(now)
            self._stage, self._since = stage, now

    def stop(self) -> dict[str, float]:
        self._close(time.perf_counter())
        self._stage = None
        return dict(self.seconds)

    def _close(self, now: float) -> None:
        if self._stage is not None:
            self.seconds[self._stage] = self.seconds.get(self._stage, 0.0) + now - self._since
