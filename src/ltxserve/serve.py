"""`ltxserve serve`: the API in this process, and embedded workers as supervised child processes.

A worker that dies is restarted and its job goes straight back to the queue (this process knows its
pid, so there is no lease to wait out). SIGTERM or Ctrl-C stops the API, then asks each worker to
stop: a job in the engine goes back to the queue at its next step, one already encoding finishes.
Workers that outlive the grace period are killed; their jobs are queued again on the next start.
"""

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import multiprocess

from ltxserve.jobs.store import JobStore
from ltxserve.jobs.worker import requeue_lost
from ltxserve.settings import METRICS_DIR_VARIABLE

log = logging.getLogger("ltxserve.serve")

_PR_SET_PDEATHSIG = 1
RESTART_BACKOFF = (1.0, 30.0)


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when the server process dies, however it dies."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class _Child:
    slot: int
    process: subprocess.Popen[bytes]
    started: float
    failures: int = 0


class WorkerSupervisor:
    """Keeps `count` worker processes running `command`."""

    def __init__(self, command: Sequence[str], count: int, store: JobStore) -> None:
        self.command = list(command)
        self.count = count
        self.store = store
        self._children: dict[int, _Child] = {}
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)

    def start(self) -> None:
        for slot in range(self.count):
            self._spawn(slot, failures=0)
        self._thread.start()

    def _spawn(self, slot: int, failures: int) -> None:
        process = subprocess.Popen(self.command, preexec_fn=_die_with_parent)
        self._children[slot] = _Child(slot, process, time.monotonic(), failures)
        log.info("worker %d started (pid %d)", slot, process.pid)

    def _watch(self) -> None:
        while not self._stopping.wait(0.5):
            for slot, child in list(self._children.items()):
                code = child.process.poll()
                if code is None or self._stopping.is_set():
                    continue
                self._requeue(child.process.pid)
                quick = time.monotonic() - child.started < 60
                failures = child.failures + 1 if quick else 0
                delay = min(RESTART_BACKOFF[1], RESTART_BACKOFF[0] * 2 ** max(0, failures - 1))
                log.error("worker %d (pid %d) exited with %s; restarting in %.0f s",
                          slot, child.process.pid, code, delay)  # fmt: skip
                if self._stopping.wait(delay):
                    return
                self._spawn(slot, failures)

    def _requeue(self, pid: int) -> None:
        """Put the jobs of a worker process that is gone back in the queue, now, and drop what it
        reported of itself alone (its GPU memory) from the metrics."""
        prefix = f"{socket.gethostname()}:{pid}:"
        requeue_lost(self.store, lambda worker: worker.startswith(prefix))
        if os.environ.get(METRICS_DIR_VARIABLE):
            multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]

    def stop(self, grace: float) -> None:
        """SIGTERM every worker, wait up to `grace` seconds, then SIGKILL what is left."""
        self._stopping.set()
        children = list(self._children.values())
        for child in children:
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in children:
            try:
                child.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker %d did not stop within %.0f s; killing it", child.slot, grace)
                child.process.kill()
                child.process.wait()
            self._requeue(child.process.pid)


def python_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "ltxserve", *args]
