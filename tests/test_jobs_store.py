"""The job queue on a real SQLite file and a real PostgreSQL server: claiming, fairness, leases,
recovery of a dead worker's job with one result, cancellation, events."""

import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from ltxserve.database import JobState, jobs, open_database, writing
from ltxserve.engine.progress import Progress
from ltxserve.jobs.store import DailyLimitError, JobStore, QuotaExceededError, new_worker_id, worker_is_gone
from ltxserve.keys import KeyLimits, KeyStore


@pytest.fixture
def store(database_url: str) -> JobStore:
    return JobStore(open_database(database_url))


def enqueue(
    store: JobStore,
    owner: str = "alice",
    count: int = 1,
    priority: int = 0,
    max_attempts: int = 3,
    max_unfinished: int | None = None,
) -> list[str]:
    return store.enqueue(
        owner, "oxen", "ltx-2-3-pro", {"task": "text_to_video"}, {"prompt": "x"}, count=count,
        priority=priority, max_attempts=max_attempts, max_unfinished=max_unfinished,
    )  # fmt: skip


def run_to_end(store: JobStore, worker: str = "w") -> str:
    job = store.claim(worker, 30)
    assert job is not None
    assert store.finish(job.id, worker, JobState.SUCCEEDED, result={"key": job.id})
    return job.id


def test_a_job_goes_queued_running_succeeded_with_an_event_at_each_step(store: JobStore) -> None:
    (job_id,) = enqueue(store)
    assert store.get(job_id).state is JobState.QUEUED  # type: ignore[union-attr]
    claimed = store.claim("w1", 30)
    assert claimed is not None and claimed.id == job_id and claimed.attempts == 1
    assert store.get(job_id).state is JobState.RUNNING  # type: ignore[union-attr]
    assert store.claim("w2", 30) is None, "a running job is nobody else's"
    assert not store.progress(job_id, "w1", Progress("denoising", 3, 30, 0.5), 30)
    assert store.get(job_id).progress == 50  # type: ignore[union-attr]
    assert store.finish(job_id, "w1", JobState.SUCCEEDED, result={"key": "k"})
    job = store.get(job_id)
    assert job is not None and job.state is JobState.SUCCEEDED and job.result == {"key": "k"}
    assert job.finished_at is not None and job.started_at is not None
    events = store.events_after(0, job_id=job_id)
    assert [event.type for event in events] == ["queued", "running", "progress", "succeeded"]
    assert [event.seq for event in events] == sorted(event.seq for event in events)
    assert events[2].data == {"stage": "denoising", "step": 3, "total": 30, "progress": 50}
    assert all(event.model == "ltx-2-3-pro" and event.owner == "alice" for event in events)


def test_jobs_are_only_visible_to_their_owner(store: JobStore) -> None:
    (mine,) = enqueue(store, "alice")
    enqueue(store, "bob")
    assert store.get(mine, owner="bob") is None
    assert store.cancel(mine, owner="bob") is None
    assert store.get(mine).state is JobState.QUEUED  # type: ignore[union-attr]
    assert [job.id for job in store.list_jobs("alice")] == [mine]
    assert {event.owner for event in store.events_after(0, owner="bob")} == {"bob"}


def test_listing_filters_by_state_and_model_newest_first(store: JobStore) -> None:
    first, second, third = enqueue(store, count=3)
    store.cancel(second)
    assert [job.id for job in store.list_jobs("alice")] == [third, second, first]
    assert [job.id for job in store.list_jobs("alice", states=[JobState.QUEUED])] == [third, first]
    assert store.list_jobs("alice", model="ltx-2-3-fast") == []
    assert [job.id for job in store.list_jobs("alice", limit=1)] == [third]


def test_listing_pages_by_cursor_without_shifting_when_jobs_arrive(store: JobStore) -> None:
    first, second, third = enqueue(store, count=3)
    assert [job.id for job in store.list_jobs("alice", limit=2)] == [third, second]
    (newer,) = enqueue(store)
    assert [job.id for job in store.list_jobs("alice", limit=2, past=second)] == [first]
    assert [job.id for job in store.list_jobs("alice", past=newer)] == [third, second, first]
    (bobs,) = enqueue(store, "bob")
    assert store.list_jobs("alice", past=bobs) == [], "a cursor of someone else's job finds nothing"


def test_higher_priority_is_claimed_first(store: JobStore) -> None:
    (low,) = enqueue(store)
    (high,) = enqueue(store, priority=5)
    positions = {job_id: store.get_with_position(job_id, "alice") for job_id in (low, high)}
    assert {job_id: found and found[1] for job_id, found in positions.items()} == {high: 0, low: 1}
    assert run_to_end(store) == high
    assert store.get_with_position(high, "alice") == (store.get(high), None), "only a queued job has one"
    assert store.get_with_position(low, "bob") is None, "someone else's job is not found"
    assert run_to_end(store) == low


def test_one_keys_backlog_does_not_starve_anothers_single_job(store: JobStore) -> None:
    """One worker, alice queues five, then bob one: bob's runs second, not sixth."""
    alice = enqueue(store, "alice", count=5)
    time.sleep(0.01)
    (bob,) = enqueue(store, "bob")
    order = [run_to_end(store) for _ in range(6)]
    assert order[:2] == [alice[0], bob]
    assert order[2:] == alice[1:]


def test_the_owner_with_fewer_running_jobs_goes_first(store: JobStore) -> None:
    alice = enqueue(store, "alice", count=3)
    (bob,) = enqueue(store, "bob")
    first = store.claim("gpu0", 30)
    second = store.claim("gpu1", 30)
    assert first is not None and second is not None
    assert (first.id, second.id) == (alice[0], bob)


def test_a_keys_running_jobs_stay_within_its_limit_and_others_go_on(store: JobStore) -> None:
    keys = KeyStore(store.engine)
    alice, _ = keys.create("alice", KeyLimits(max_running=1))
    first, second = enqueue(store, alice.id, count=2)
    (bob,) = enqueue(store, "bob")
    taken = store.claim("gpu0", 30, max_running=2)
    assert taken is not None and taken.id == first
    after = store.claim("gpu1", 30, max_running=2)
    assert after is not None and after.id == bob, "alice's second waits; bob's runs"
    assert store.claim("gpu2", 30, max_running=2) is None
    assert store.finish(first, "gpu0", JobState.SUCCEEDED, result={})
    again = store.claim("gpu0", 30, max_running=2)
    assert again is not None and again.id == second
    enqueue(store, "bob")
    assert store.claim("gpu2", 30, max_running=1) is None, "the server's limit holds for a key without one"
    assert store.claim("gpu2", 30, max_running=2) is not None


def test_many_workers_never_run_more_of_a_keys_jobs_than_it_may(store: JobStore) -> None:
    keys = KeyStore(store.engine)
    alice, _ = keys.create("alice", KeyLimits(max_running=2))
    enqueue(store, alice.id, count=12)
    claimed = claimed_by_racing_workers(store)
    assert len(claimed) == 2, f"{len(claimed)} of alice's jobs ran at once"


def test_concurrent_workers_never_claim_the_same_job(store: JobStore) -> None:
    ids = set(enqueue(store, count=40))
    assert sorted(claimed_by_racing_workers(store)) == sorted(ids), "every job claimed exactly once"


def claimed_by_racing_workers(store: JobStore, workers: int = 8) -> list[str]:
    """What `workers` threads claimed, each claiming until nothing is left for it."""
    claimed: list[str] = []
    lock = threading.Lock()

    def work(worker: str) -> None:
        while (job := store.claim(worker, 30)) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return claimed


def test_a_dead_workers_job_is_requeued_and_completes_once(store: JobStore) -> None:
    (job_id,) = enqueue(store)
    lost = store.claim("lost-worker", lease_seconds=0.2)
    assert lost is not None
    time.sleep(0.3)
    requeued, failed = store.reap()
    assert (requeued, failed) == ([job_id], [])
    again = store.claim("second-worker", 30)
    assert again is not None and again.id == job_id and again.attempts == 2, "the attempt count is kept"
    # the first worker comes back from the dead: nothing it writes counts
    assert store.progress(job_id, "lost-worker", Progress("denoising", 5, 30), 30), "told to stop"
    assert not store.heartbeat(job_id, "second-worker", 30)
    assert not store.finish(job_id, "lost-worker", JobState.SUCCEEDED, result={"key": "stale"})
    assert store.finish(job_id, "second-worker", JobState.SUCCEEDED, result={"key": "fresh"})
    job = store.get(job_id)
    assert job is not None and job.result == {"key": "fresh"}
    kinds = [event.type for event in store.events_after(0, job_id=job_id)]
    assert kinds == ["queued", "running", "requeued", "running", "succeeded"]


def test_a_live_lease_is_not_reaped_and_heartbeats_extend_it(store: JobStore) -> None:
    (job_id,) = enqueue(store)
    assert store.claim("w", lease_seconds=0.4) is not None
    for _ in range(4):
        time.sleep(0.2)
        assert not store.heartbeat(job_id, "w", 0.4)
        assert store.reap() == ([], [])
    assert store.get(job_id).state is JobState.RUNNING  # type: ignore[union-attr]


def test_a_job_whose_workers_keep_dying_fails_after_max_attempts(store: JobStore) -> None:
    (job_id,) = enqueue(store, max_attempts=2)
    for attempt in (1, 2):
        job = store.claim(f"w{attempt}", 30)
        assert job is not None and job.attempts == attempt
        store.reap([f"w{attempt}"])
    job = store.get(job_id)
    assert job is not None and job.state is JobState.FAILED
    assert job.error is not None and job.error["code"] == "worker_lost"


def test_a_known_dead_worker_is_reaped_at_once_leases_of_others_are_kept(store: JobStore) -> None:
    dead_job, live_job = enqueue(store, count=2)
    assert store.claim("dead", 3600) is not None
    assert store.claim("alive", 3600) is not None
    assert store.running_workers() == {"dead", "alive"}
    assert store.reap(["dead"]) == ([dead_job], [])
    assert store.get(live_job).state is JobState.RUNNING  # type: ignore[union-attr]


def test_cancelling_a_queued_job_is_immediate(store: JobStore) -> None:
    (job_id,) = enqueue(store)
    assert store.cancel(job_id) is JobState.CANCELLED
    assert store.claim("w", 30) is None
    assert store.cancel(job_id) is JobState.CANCELLED, "cancelling again changes nothing"
    assert [event.type for event in store.events_after(0)] == ["queued", "cancelled"]


def test_cancelling_a_running_job_tells_its_worker_at_the_next_step(store: JobStore) -> None:
    (job_id,) = enqueue(store)
    assert store.claim("w", 30) is not None
    assert not store.progress(job_id, "w", Progress("denoising", 1, 30), 30)
    assert store.cancel(job_id) is JobState.RUNNING
    assert store.progress(job_id, "w", Progress("denoising", 2, 30), 30), "the next step learns of it"
    assert store.heartbeat(job_id, "w", 30)
    assert not store.release(job_id, "w"), "a job asked to stop is not put back in the queue"
    assert store.finish(job_id, "w", JobState.CANCELLED)
    assert store.get(job_id).state is JobState.CANCELLED  # type: ignore[union-attr]


def test_a_cancelled_job_whose_worker_died_ends_cancelled(store: JobStore) -> None:
    (job_id,) = enqueue(store)
    assert store.claim("w", 30) is not None
    store.cancel(job_id)
    store.reap(["w"])
    assert store.get(job_id).state is JobState.CANCELLED  # type: ignore[union-attr]


def test_release_puts_the_job_back_without_counting_the_attempt(store: JobStore) -> None:
    (job_id,) = enqueue(store)
    assert store.claim("stopping", 30) is not None
    assert store.release(job_id, "stopping")
    job = store.get(job_id)
    assert job is not None and job.state is JobState.QUEUED and job.attempts == 0
    again = store.claim("next", 30)
    assert again is not None and again.attempts == 1


def test_the_unfinished_quota_counts_queued_and_running_jobs(store: JobStore) -> None:
    enqueue(store, count=2, max_unfinished=3)
    assert store.claim("w", 30) is not None
    with pytest.raises(QuotaExceededError, match="limit is 3"):
        enqueue(store, count=2, max_unfinished=3)
    assert len(enqueue(store, count=1, max_unfinished=3)) == 1
    assert len(enqueue(store, "bob", count=3, max_unfinished=3)) == 3, "the quota is per owner"
    assert len(store.list_jobs("alice")) == 3, "nothing of the refused batch was queued"


def test_events_resume_after_a_sequence_number(store: JobStore) -> None:
    enqueue(store, count=3)
    everything = store.events_after(0)
    assert store.last_seq() == everything[-1].seq
    assert store.events_after(everything[0].seq) == everything[1:]
    assert store.event(everything[1].seq) == everything[1]
    assert store.events_after(everything[-1].seq) == []


def test_a_worker_id_tells_whether_its_process_is_gone() -> None:
    assert not worker_is_gone(new_worker_id())
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(finished.stdout)
    host = new_worker_id().split(":")[0]
    assert worker_is_gone(f"{host}:{pid}:abcd1234")
    assert not worker_is_gone(f"another-host:{pid}:abcd1234"), "processes elsewhere cannot be checked"


def test_a_keys_seconds_of_video_a_day_are_bounded_at_submit(store: JobStore) -> None:
    def asks(seconds: float | None, count: int = 1, owner: str = "alice") -> list[str]:
        return store.enqueue(
            owner, "oxen", "ltx-2-3-pro", {"task": "text_to_video"}, {"prompt": "x"}, count=count,
            seconds=seconds, seconds_per_day=12,
        )  # fmt: skip

    _, second = asks(5, count=2)
    with pytest.raises(DailyLimitError) as refused:
        asks(2.5)
    assert "10 s" in str(refused.value) and "12 s a day" in str(refused.value)
    tomorrow = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    assert 0 < refused.value.retry_after <= tomorrow.timestamp() - time.time() + 1, "until the day ends"
    assert asks(2), "the allowance may be reached exactly"
    assert asks(None), "a length told by its inputs counts once the job has run"
    with pytest.raises(DailyLimitError):
        asks(0.1)
    assert asks(0.1, owner="bob"), "keys count apart"
    store.cancel(second, "alice")
    assert asks(5), "a cancelled job's seconds are given back"
    _made_yesterday(store, "alice")
    assert asks(12), "yesterday's jobs count for yesterday"


def test_seconds_told_by_the_inputs_count_once_run_and_a_failed_jobs_are_given_back(store: JobStore) -> None:
    def asks(seconds: float | None) -> list[str]:
        return store.enqueue(
            "carol", "oxen", "ltx-2-3-pro", {"task": "audio_to_video"}, {"prompt": "x"},
            seconds=seconds, seconds_per_day=12,
        )  # fmt: skip

    (timed_by_audio,) = asks(None)
    (failing,) = asks(6)
    while (job := store.claim("w", 30)) is not None:
        if job.id == failing:
            assert store.finish(job.id, "w", JobState.FAILED, error={"message": "broken"})
        else:
            assert store.finish(job.id, "w", JobState.SUCCEEDED, result={}, seconds=7)
    assert store.get(timed_by_audio).seconds == 7  # type: ignore[union-attr]
    assert store.get(failing).seconds == 6, "a job's own figure is kept"  # type: ignore[union-attr]
    with pytest.raises(DailyLimitError):
        asks(5.5)
    assert asks(5)


def _made_yesterday(store: JobStore, owner: str) -> None:
    with writing(store.engine) as connection:
        connection.execute(
            jobs.update().where(jobs.c.owner == owner).values(created_at=time.time() - 86400 - 1)
        )
