"""The sandbox kills slow jobs, caps memory, and turns every kind of death into a clear error."""

import os
import threading
import time
from pathlib import Path

import pytest

from ltxserve.media import CorruptFileError, LimitExceededError, ProbeCrashedError, ProbeTimeoutError
from ltxserve.media.sandbox import MAX_ANSWER_BYTES, run_isolated
from tests import sandbox_jobs

MEMORY = 1 << 30


def test_result_comes_back() -> None:
    assert run_isolated(sandbox_jobs.add, 2, 3, timeout=10, memory_bytes=MEMORY) == 5


def test_job_runs_in_another_process() -> None:
    assert run_isolated(sandbox_jobs.pid, timeout=10, memory_bytes=MEMORY) != os.getpid()


def test_slow_job_is_killed_at_the_deadline() -> None:
    started = time.monotonic()
    with pytest.raises(ProbeTimeoutError, match=r"within 0\.5 s"):
        run_isolated(sandbox_jobs.sleep_forever, timeout=0.5, memory_bytes=MEMORY)
    assert time.monotonic() - started < 3


def test_memory_cap_stops_a_bomb() -> None:
    with pytest.raises(ProbeCrashedError, match="memory cap"):
        run_isolated(sandbox_jobs.allocate, 4096, timeout=10, memory_bytes=MEMORY)


def test_media_errors_cross_the_boundary_intact() -> None:
    with pytest.raises(CorruptFileError, match="the file is damaged") as raised:
        run_isolated(sandbox_jobs.refuse, timeout=10, memory_bytes=MEMORY)
    assert raised.value.code == "corrupt"


def test_an_errors_fields_cross_and_only_our_errors_are_made() -> None:
    with pytest.raises(LimitExceededError) as raised:
        run_isolated(sandbox_jobs.exceed, timeout=10, memory_bytes=MEMORY)
    assert (raised.value.limit, raised.value.value, raised.value.maximum) == ("frames", 900, 505)
    assert str(raised.value) == "frames 900 exceeds the limit of 505"
    with pytest.raises(ProbeCrashedError, match="not one of ours"):
        run_isolated(sandbox_jobs.answer_with_a_foreign_error, timeout=10, memory_bytes=MEMORY)


def test_the_childs_answer_is_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    with pytest.raises(ProbeCrashedError, match="not an answer"):
        run_isolated(sandbox_jobs.answer_with_a_pickle, str(marker), timeout=10, memory_bytes=MEMORY)
    assert not marker.exists(), "what the child wrote was run in the parent"


def test_an_answer_longer_than_any_probe_gives_is_refused_unread() -> None:
    with pytest.raises(ProbeCrashedError, match=f"at most {MAX_ANSWER_BYTES}"):
        run_isolated(sandbox_jobs.answer_at_length, 64 << 20, timeout=10, memory_bytes=MEMORY)
    assert run_isolated(sandbox_jobs.add, 1, 2, timeout=10, memory_bytes=MEMORY) == 3


def test_unexpected_exception_is_reported() -> None:
    with pytest.raises(ProbeCrashedError, match="RuntimeError: a bug"):
        run_isolated(sandbox_jobs.fail, timeout=10, memory_bytes=MEMORY)


def test_a_crashing_child_is_reported_and_the_next_job_still_runs() -> None:
    with pytest.raises(ProbeCrashedError, match="died"):
        run_isolated(sandbox_jobs.die, timeout=10, memory_bytes=MEMORY)
    assert run_isolated(sandbox_jobs.add, 1, 1, timeout=10, memory_bytes=MEMORY) == 2


def test_concurrent_jobs_from_many_threads() -> None:
    results: list[int] = []

    def work(n: int) -> None:
        results.append(run_isolated(sandbox_jobs.add, n, 1000, timeout=20, memory_bytes=MEMORY))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [1000 + n for n in range(16)]
