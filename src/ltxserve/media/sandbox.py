"""Run a function on untrusted input in a killable child process with a memory cap and a deadline.

PyAV's own timeout cannot interrupt a blocking open() or CPU-bound demuxing, and a tiny crafted
file can ask for gigabytes. Only a separate process can be killed, and RLIMIT_AS turns a
decompression bomb into a clean MemoryError instead of a visit from the OOM killer.

Starting a fresh interpreter and importing PyAV costs ~240 ms per call. Instead a zygote process,
started once and single-threaded, imports PyAV and forks one child per job (~10 ms). Unlike
multiprocessing's forkserver it never re-imports the caller's `__main__`.

The parent sends the child its job as a pickle (the child trusts its parent), but the child answers
in JSON of at most MAX_ANSWER_BYTES: a decoder compromised by the file it reads could write anything
there, and unpickling it would run that in the parent.
"""

import contextlib
import importlib
import json
import os
import pickle
import resource
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

from ltxserve.media.errors import MediaError, ProbeCrashedError, ProbeTimeoutError, media_error

_LENGTH = struct.Struct(">Q")
_PRELOAD = "ltxserve.media.inspect"
MAX_ANSWER_BYTES = 1 << 20
"""The longest answer a child may give (a probe's is under 2 KiB)."""


def run_isolated[T](
    fn: Callable[..., T], *args: Any, timeout: float, memory_bytes: int, what: str = "probe"
) -> T:
    """`fn(*args)` in a child process; `fn` must be importable by module and name, and return what JSON
    carries. MediaErrors raised there are re-raised here; running out of memory or time, dying, or
    answering what is not an answer raises ProbeCrashedError or ProbeTimeoutError."""
    job = _zygote().start_job()
    with job:
        job.settimeout(timeout)
        try:
            _send(job, pickle.dumps((fn, args, memory_bytes)))
            pid = int.from_bytes(_receive_exactly(job, 8), "big")
        except (OSError, EOFError) as error:
            raise ProbeCrashedError(f"{what} could not start: {error}") from None
        try:
            status, payload = _answer(_receive(job, MAX_ANSWER_BYTES))
        except TimeoutError:
            _kill(pid)
            raise ProbeTimeoutError(f"{what} did not finish within {timeout:g} s") from None
        except (OSError, EOFError):
            status, payload = "died", None
        except ValueError as error:
            _kill(pid)
            raise ProbeCrashedError(f"{what} answered {error}") from None
    if status == "ok":
        return payload  # type: ignore[no-any-return]
    if status == "error":
        raise media_error(payload)
    if status == "memory":
        raise ProbeCrashedError(f"{what} needed more than its {memory_bytes >> 20} MiB memory cap")
    if status == "crash":
        raise ProbeCrashedError(f"{what} failed: {payload}")
    raise ProbeCrashedError(f"{what} died without answering")


def _answer(data: bytes) -> tuple[str, Any]:
    """A child's answer: ["ok", value], ["error", a MediaError's JSON], ["memory", null] or ["crash",
    text]; ValueError for anything else."""
    try:
        answer = json.loads(data)
    except ValueError:
        raise ValueError("what is not an answer (not JSON)") from None
    statuses = ("ok", "error", "memory", "crash")
    if not (isinstance(answer, list) and len(answer) == 2 and answer[0] in statuses):
        raise ValueError("what is not an answer")
    if answer[0] == "error" and not isinstance(answer[1], dict):
        raise ValueError("an error that is not an answer")
    return answer[0], answer[1]


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


class _Zygote:
    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
        }
        self._process = subprocess.Popen(
            [sys.executable, "-m", "ltxserve.media.zygote", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # Ctrl-C in the terminal is for the parent, which then closes us
        )
        theirs.close()
        self._control = ours
        self._lock = threading.Lock()

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def start_job(self) -> socket.socket:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with theirs, self._lock:
            socket.send_fds(self._control, [b"J"], [theirs.fileno()])
        return ours


_zygote_lock = threading.Lock()
_current: _Zygote | None = None


def _zygote() -> _Zygote:
    global _current
    with _zygote_lock:
        if _current is None or not _current.alive:
            _current = _Zygote()
        return _current


def _send(sock: socket.socket, data: bytes) -> None:
    sock.sendall(_LENGTH.pack(len(data)) + data)


def _receive(sock: socket.socket, largest: int | None = None) -> bytes:
    """One length-prefixed message; ValueError, unread, if it is longer than `largest`."""
    (length,) = _LENGTH.unpack(_receive_exactly(sock, _LENGTH.size))
    if largest is not None and length > largest:
        raise ValueError(f"{length} bytes; an answer is at most {largest}")
    return _receive_exactly(sock, length)


def _receive_exactly(sock: socket.socket, count: int) -> bytes:
    chunks, remaining = [], count
    while remaining:
        chunk = sock.recv(min(remaining, 1 << 20))
        if not chunk:
            raise EOFError("the sandboxed process closed the connection")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def serve_zygote(control_fd: int) -> None:
    """Zygote main loop: one forked child per job socket received; exits when the parent goes away."""
    importlib.import_module(_PRELOAD)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    control = socket.socket(fileno=control_fd)
    while True:
        message, fds, _, _ = socket.recv_fds(control, 1, 1)
        if not message:
            return
        if os.fork() == 0:
            control.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            _run_job(socket.socket(fileno=fds[0]))
            os._exit(0)
        for fd in fds:
            os.close(fd)


def _run_job(job: socket.socket) -> None:
    try:
        fn, args, memory_bytes = pickle.loads(_receive(job))
        job.sendall(os.getpid().to_bytes(8, "big"))
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        try:
            answer = json.dumps(["ok", fn(*args)])
        except MediaError as error:
            answer = json.dumps(["error", error.to_json()])
        except MemoryError:
            answer = json.dumps(["memory", None])
        except Exception as error:  # a bug or a library failure: report it, never hang
            answer = json.dumps(["crash", f"{type(error).__name__}: {error}"])
        _send(job, answer.encode())
    except (OSError, EOFError):
        pass  # the parent gave up (timeout) or went away
