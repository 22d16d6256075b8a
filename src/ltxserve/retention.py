"""What is kept, and for how long: a result's file for `Settings.file_lifetime` after its job ended,
an upload for as long after it was made (longer while a queued or running job will read it), and a
job's row, events and webhook for `Settings.job_lifetime` after it ended. `sweep` deletes what has
outlived that, from local storage or the bucket alike; the API runs it every `sweep_seconds`.

A result whose file is gone keeps its description, marked `expired_at`, so each dialect can say that
it expired rather than that it never was."""

import logging
import time
from dataclasses import dataclass

from ltxserve.database import JobState
from ltxserve.inputs import UPLOAD_REFERENCE
from ltxserve.jobs.store import IDEMPOTENCY_WINDOW, JobStore
from ltxserve.settings import Settings
from ltxserve.storage import Storage

log = logging.getLogger("ltxserve.retention")


@dataclass(frozen=True)
class Swept:
    results: int
    jobs: int
    uploads: int


def sweep(store: JobStore, storage: Storage, settings: Settings, now: float | None = None) -> Swept:
    """Delete what has outlived its lifetime at `now` (default: now); how many of each."""
    now = time.time() if now is None else now
    files_made_before = now - settings.file_lifetime.total_seconds()
    results = 0
    for job_id, kept in store.ended_before(files_made_before, [JobState.SUCCEEDED]):
        key = store.discard_result(job_id, {"expired_at": now}) if kept else None
        if key is not None:
            storage.delete(key)
            results += 1
    jobs = 0
    for job_id, _ in store.ended_before(now - settings.job_lifetime.total_seconds()):
        key = store.forget(job_id)
        if key is not None:
            storage.delete(key)
        jobs += 1
    uploads = _sweep_uploads(store, storage, files_made_before)
    store.forget_submissions(now - IDEMPOTENCY_WINDOW.total_seconds())
    if results or jobs or uploads:
        log.info("retention: deleted %d results, %d jobs, %d uploads", results, jobs, uploads)
    return Swept(results, jobs, uploads)


def _sweep_uploads(store: JobStore, storage: Storage, made_before: float) -> int:
    old = [item for item in storage.listing("uploads/") if item.modified_at < made_before]
    if not old:
        return 0
    needed = {
        name for request in store.unfinished_requests() for name in UPLOAD_REFERENCE.findall(str(request))
    }
    gone = [item for item in old if item.key.rpartition("/")[2] not in needed]
    for item in gone:
        storage.delete(item.key)
    return len(gone)
