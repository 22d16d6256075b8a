"""The durable job queue: jobs and their append-only events, on the database.

A job is claimed under a lease the worker renews; a reaper puts the job of a dead worker back in the
queue (at-least-once), and every write a worker makes is guarded by its id and the job's state, so a
worker that lost its lease can never overwrite the attempt that replaced it: there is one result.
Every change appends to `job_events`; their sequence numbers are the SSE event ids clients resume
from. On PostgreSQL each event also travels by NOTIFY, and new work wakes idle workers the same way.
"""

import json
import os
import socket
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from ltxserve.database import JobState, api_keys, job_events, jobs, reading, submissions, workers, writing
from ltxserve.database import webhooks as webhook_rows
from ltxserve.engine.progress import Progress
from ltxserve.jobs import webhooks

NEW_WORK_CHANNEL = "ltxserve_new_work"
EVENT_CHANNEL = "ltxserve_events"
_NOTIFY_LIMIT = 7000
"""PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; larger events are sent by reference."""


@dataclass(frozen=True)
class Job:
    id: str
    owner: str
    model: str
    """The product asked for, as its surface names it."""
    surface: str
    """The dialect the job was submitted through (oxen, fal, ltx, openai)."""
    priority: int
    state: JobState
    request: dict[str, Any]
    params: dict[str, Any]
    cost: float | None
    seconds: float | None
    """Of video the job makes (None: told by its inputs, counted once it has run)."""
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    """{"message", "field" (or None), "code"} for a failed job."""
    stage: str | None
    step: int
    total: int
    progress: int
    """Percent of the work done, as the worker last reported it (0 until it runs)."""
    cancel_requested: bool
    attempts: int
    max_attempts: int
    worker_id: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None

    @classmethod
    def from_row(cls, row: Any) -> "Job":
        values = {name: getattr(row, name) for name in cls.__dataclass_fields__}
        values["state"] = JobState(values["state"])
        return cls(**values)


@dataclass(frozen=True)
class Event:
    """A change to a job: queued, running, progress, succeeded, failed, cancelled, cancel_requested
    or requeued, with its data (a succeeded job's result, a failed job's error, a step...)."""

    seq: int
    job_id: str
    owner: str
    model: str
    surface: str
    type: str
    data: dict[str, Any]
    ts: float

    @classmethod
    def from_row(cls, row: Any) -> "Event":
        return cls(row.seq, row.job_id, row.owner, row.model, row.surface, row.type, row.data, row.ts)

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "job_id": self.job_id, "owner": self.owner, "model": self.model,
                "surface": self.surface, "type": self.type, "data": self.data, "ts": self.ts}  # fmt: skip

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> "Event":
        return cls(**value)


@dataclass(frozen=True)
class _Ref:
    id: str
    owner: str
    model: str
    surface: str


IDEMPOTENCY_WINDOW = timedelta(hours=24)
"""How long an Idempotency-Key names its submission (a retry comes within it; then the name is free)."""
DISCARDED = {"discarded": True}
"""The mark of a result whose file was answered once and not kept (fal's sync_mode)."""
TERMINAL = (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class QuotaExceededError(Exception):
    """The owner already has as many unfinished jobs as it may."""


class DailyLimitError(QuotaExceededError):
    """The owner's jobs have made, or asked for, as many seconds of video today (UTC) as it may."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        """Seconds until the day ends and the allowance is whole again."""


def _submitted(connection: Connection, owner: str, idempotency_key: str, now: float) -> list[str] | None:
    earlier = connection.execute(
        sa.select(submissions.c.job_ids).where(
            submissions.c.owner == owner,
            submissions.c.idempotency_key == idempotency_key,
            submissions.c.created_at >= now - IDEMPOTENCY_WINDOW.total_seconds(),
        )
    ).scalar()
    return None if earlier is None else list(earlier)


def _check_day(connection: Connection, owner: str, now: float, asked: float, allowance: float) -> None:
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    used = connection.execute(
        sa.select(sa.func.coalesce(sa.func.sum(jobs.c.seconds), 0.0)).where(
            jobs.c.owner == owner,
            jobs.c.created_at >= day.timestamp(),
            jobs.c.state.not_in((JobState.FAILED, JobState.CANCELLED)),
        )
    ).scalar_one()
    if used + asked > allowance + 1e-6:  # seconds are sums of decimal fractions
        retry_after = (day + timedelta(days=1)).timestamp() - now
        raise DailyLimitError(
            f"this key's jobs have made or asked for {used:g} s of video today (UTC) and this asks "
            f"{asked:g} s more; it may have {allowance:g} s a day",
            retry_after,
        )


def new_worker_id() -> str:
    """host:pid:nonce; the host and pid let a reaper on the same host see that the worker is gone."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def worker_is_gone(worker_id: str) -> bool:
    """True when `worker_id` names a process on this host that no longer runs."""
    host, _, rest = worker_id.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class JobStore:
    """Jobs and their events. Thread-safe: every call takes its own connection from the pool."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"

    def _append(self, connection: Connection, job: Any, kind: str, data: dict[str, Any]) -> None:
        """Record an event of `job` (anything with id, owner, model and surface)."""
        ts = time.time()
        values = {
            "job_id": job.id,
            "owner": job.owner,
            "model": job.model,
            "surface": job.surface,
            "type": kind,
            "data": data,
            "ts": ts,
        }
        seq = connection.execute(
            job_events.insert().values(**values).returning(job_events.c.seq)
        ).scalar_one()
        if self.postgres:
            # The event travels in the notification: PostgreSQL sequence order is not commit order,
            # so a listener re-reading "everything after seq" could skip a row committed late.
            event = Event(seq, job.id, job.owner, job.model, job.surface, kind, data, ts)
            payload = json.dumps(event.to_json())
            if len(payload.encode()) > _NOTIFY_LIMIT:
                payload = json.dumps({"seq": seq})
            connection.execute(sa.select(sa.func.pg_notify(EVENT_CHANNEL, payload)))

    def _wake_workers(self, connection: Connection) -> None:
        if self.postgres:
            connection.execute(sa.select(sa.func.pg_notify(NEW_WORK_CHANNEL, "")))

    # --- clients -------------------------------------------------------------------------------

    def enqueue(
        self,
        owner: str,
        surface: str,
        model: str,
        request: dict[str, Any],
        params: dict[str, Any],
        *,
        cost: float | None = None,
        priority: int = 0,
        max_attempts: int = 3,
        max_unfinished: int | None = None,
        count: int = 1,
        webhook: webhooks.Callback | None = None,
        seconds: float | None = None,
        seconds_per_day: float | None = None,
        idempotency_key: str | None = None,
    ) -> list[str]:
        """Add `count` jobs for `owner` in one transaction; their ids, in order. With `webhook`, each
        job is to be called back at that URL when it ends (`jobs.webhooks`). `seconds`: of video each
        will make, when known before it runs; with `seconds_per_day`, the owner's jobs of today (UTC)
        that did not fail or get cancelled may not ask for more in all. With `idempotency_key`, the
        owner's submission of that name within IDEMPOTENCY_WINDOW: its jobs, when it was made already
        (nothing is added), else these."""
        now = time.time()
        with writing(self.engine) as connection:
            if self.postgres:  # the checks and the insert must not interleave with another's
                connection.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(owner))))
            if idempotency_key is not None:
                earlier = _submitted(connection, owner, idempotency_key, now)
                if earlier is not None:
                    return earlier
            if max_unfinished is not None:
                unfinished = connection.execute(
                    sa.select(sa.func.count()).where(
                        jobs.c.owner == owner, jobs.c.state.in_((JobState.QUEUED, JobState.RUNNING))
                    )
                ).scalar_one()
                if unfinished + count > max_unfinished:
                    raise QuotaExceededError(
                        f"{unfinished} unfinished jobs and {count} more asked; the limit is {max_unfinished}"
                    )
            if seconds_per_day is not None:
                _check_day(connection, owner, now, count * (seconds or 0.0), seconds_per_day)
            ids = []
            for _ in range(count):
                job_id = str(uuid.uuid4())
                connection.execute(
                    jobs.insert().values(
                        id=job_id, owner=owner, model=model, surface=surface, priority=priority,
                        state=JobState.QUEUED,
                        request=request, params=params, cost=cost, seconds=seconds, max_attempts=max_attempts,
                        created_at=now,
                    )
                )  # fmt: skip
                self._append(connection, _Ref(job_id, owner, model, surface), JobState.QUEUED, {})
                if webhook is not None:
                    webhooks.add(connection, job_id, owner, surface, webhook)
                ids.append(job_id)
            if idempotency_key is not None:
                named = {"owner": owner, "idempotency_key": idempotency_key}
                connection.execute(submissions.delete().filter_by(**named))  # one from before the window
                connection.execute(submissions.insert().values(**named, job_ids=ids, created_at=now))
            self._wake_workers(connection)
            return ids

    def get(self, job_id: str, owner: str | None = None) -> Job | None:
        """The job, or None when it does not exist or belongs to someone else."""
        with reading(self.engine) as connection:
            return self._get(connection, job_id, owner)

    def get_with_position(self, job_id: str, owner: str) -> tuple[Job, int | None] | None:
        """The job and, while it is queued, how many queued jobs are ahead of it (one transaction:
        a status poll is the commonest request)."""
        with reading(self.engine) as connection:
            job = self._get(connection, job_id, owner)
            if job is None:
                return None
            return job, self._queue_position(connection, job.id)

    def _get(self, connection: sa.Connection, job_id: str, owner: str | None) -> Job | None:
        query = sa.select(jobs).where(jobs.c.id == job_id)
        if owner is not None:
            query = query.where(jobs.c.owner == owner)
        row = connection.execute(query).first()
        return Job.from_row(row) if row else None

    def list_jobs(
        self,
        owner: str,
        *,
        states: Sequence[JobState] | None = None,
        model: str | None = None,
        limit: int = 100,
        past: str | None = None,
        oldest_first: bool = False,
    ) -> list[Job]:
        """The owner's jobs, newest first (or oldest first); with `past`, only those that come after
        that job in this order (a cursor: pages do not shift when new jobs arrive)."""
        order = jobs.c.number.asc() if oldest_first else jobs.c.number.desc()
        query = sa.select(jobs).where(jobs.c.owner == owner).order_by(order).limit(limit)
        if past is not None:
            mine = sa.and_(jobs.c.id == past, jobs.c.owner == owner)
            cursor = sa.select(jobs.c.number).where(mine).scalar_subquery()
            query = query.where(jobs.c.number > cursor if oldest_first else jobs.c.number < cursor)
        if states:
            query = query.where(jobs.c.state.in_(list(states)))
        if model is not None:
            query = query.where(jobs.c.model == model)
        with reading(self.engine) as connection:
            return [Job.from_row(row) for row in connection.execute(query)]

    def _queue_position(self, connection: sa.Connection, job_id: str) -> int | None:
        """How many queued jobs are ahead of this one by priority and age, or None if not queued."""
        row = connection.execute(
            sa.select(jobs.c.priority, jobs.c.number).where(
                jobs.c.id == job_id, jobs.c.state == JobState.QUEUED
            )
        ).first()
        if row is None:
            return None
        ahead = sa.or_(
            jobs.c.priority > row.priority,
            sa.and_(jobs.c.priority == row.priority, jobs.c.number < row.number),
        )
        position: int = connection.execute(
            sa.select(sa.func.count()).where(jobs.c.state == JobState.QUEUED, ahead)
        ).scalar_one()
        return position

    def cancel(self, job_id: str, owner: str | None = None) -> JobState | None:
        """Cancel: a queued job is cancelled at once, a running one is asked to stop at its next step.
        The state after the call, or None for an unknown job."""
        scope = jobs.c.id == job_id if owner is None else sa.and_(jobs.c.id == job_id, jobs.c.owner == owner)
        with writing(self.engine) as connection:
            row = connection.execute(
                sa.select(jobs.c.id, jobs.c.state, jobs.c.owner, jobs.c.model, jobs.c.surface).where(scope)
            ).first()
            if row is None:
                return None
            state = JobState(row.state)
            if state is JobState.QUEUED:
                connection.execute(
                    jobs.update()
                    .where(jobs.c.id == job_id)
                    .values(state=JobState.CANCELLED, finished_at=time.time(), cancel_requested=True)
                )
                self._append(connection, row, JobState.CANCELLED, {})
                return JobState.CANCELLED
            if state is JobState.RUNNING:
                connection.execute(jobs.update().where(jobs.c.id == job_id).values(cancel_requested=True))
                self._append(connection, row, "cancel_requested", {})
            return state

    def events_after(
        self, seq: int, *, owner: str | None = None, job_id: str | None = None, limit: int = 1000
    ) -> list[Event]:
        query = sa.select(job_events).where(job_events.c.seq > seq).order_by(job_events.c.seq).limit(limit)
        if owner is not None:
            query = query.where(job_events.c.owner == owner)
        if job_id is not None:
            query = query.where(job_events.c.job_id == job_id)
        with reading(self.engine) as connection:
            return [Event.from_row(row) for row in connection.execute(query)]

    def event(self, seq: int) -> Event | None:
        with reading(self.engine) as connection:
            row = connection.execute(sa.select(job_events).where(job_events.c.seq == seq)).first()
        return Event.from_row(row) if row else None

    def last_seq(self) -> int:
        with reading(self.engine) as connection:
            seq: int = connection.execute(
                sa.select(sa.func.coalesce(sa.func.max(job_events.c.seq), 0))
            ).scalar_one()
            return seq

    # --- workers -------------------------------------------------------------------------------

    def worker_seen(self, worker_id: str) -> None:
        """The worker is up (and rows of workers unseen for a day, which died, are dropped)."""
        now = time.time()
        insert = postgresql.insert if self.postgres else sqlite.insert
        with writing(self.engine) as connection:
            connection.execute(
                insert(workers)
                .values(id=worker_id, seen_at=now)
                .on_conflict_do_update(index_elements=[workers.c.id], set_={"seen_at": now})
            )
            connection.execute(workers.delete().where(workers.c.seen_at < now - 86_400))

    def worker_stopped(self, worker_id: str) -> None:
        with writing(self.engine) as connection:
            connection.execute(workers.delete().where(workers.c.id == worker_id))

    def workers_up(self, within: float) -> int:
        """How many workers were seen waiting in the last `within` seconds or hold a live lease."""
        now = time.time()
        with reading(self.engine) as connection:
            waiting = connection.execute(sa.select(workers.c.id).where(workers.c.seen_at >= now - within))
            working = connection.execute(
                sa.select(jobs.c.worker_id).where(jobs.c.state == JobState.RUNNING, jobs.c.lease_until >= now)
            )
            return len({row[0] for row in [*waiting, *working]})

    def claim(self, worker_id: str, lease_seconds: float, max_running: int | None = None) -> Job | None:
        """The next job, fairly: higher priority first; then the owner with the fewest running jobs,
        then the owner whose last job started longest ago (so one key's backlog cannot starve
        another's single job, even with one worker); then first come, first served. An owner with as
        many running jobs as its key's own limit, else `max_running`, has none taken."""
        others = jobs.alias("others")
        running = (
            sa.select(sa.func.count())
            .where(others.c.owner == jobs.c.owner, others.c.state == JobState.RUNNING)
            .scalar_subquery()
        )
        last_start = (
            sa.select(sa.func.coalesce(sa.func.max(others.c.started_at), 0.0))
            .where(others.c.owner == jobs.c.owner)
            .scalar_subquery()
        )
        own_limit = sa.select(api_keys.c.max_running).where(api_keys.c.id == jobs.c.owner).scalar_subquery()
        limit = sa.func.coalesce(own_limit, max_running if max_running is not None else 2**31 - 1)
        pick = (
            sa.select(jobs.c.number, jobs.c.owner, limit)
            .where(jobs.c.state == JobState.QUEUED, running < limit)
            .order_by(jobs.c.priority.desc(), running, last_start, jobs.c.number)
            .limit(1)
        )
        if self.postgres:
            pick = pick.with_for_update(skip_locked=True, of=jobs)
        now = time.time()
        with writing(self.engine) as connection:
            picked = connection.execute(pick).first()
            if picked is None:
                return None
            number, owner, allowed = picked
            if self.postgres:  # claims of one owner in turn: another may have taken one since the pick
                connection.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(owner))))
                now_running = connection.execute(
                    sa.select(sa.func.count()).where(jobs.c.owner == owner, jobs.c.state == JobState.RUNNING)
                ).scalar_one()
                if now_running >= allowed:
                    return None
            row = connection.execute(
                jobs.update()
                .where(jobs.c.number == number, jobs.c.state == JobState.QUEUED)
                .values(
                    state=JobState.RUNNING, worker_id=worker_id, attempts=jobs.c.attempts + 1, started_at=now,
                    lease_until=now + lease_seconds, stage=None, step=0, total=0, progress=0,
                )
                .returning(*jobs.c)
            ).one()  # fmt: skip
            job = Job.from_row(row)
            self._append(connection, job, JobState.RUNNING, {"attempt": job.attempts})
            return job

    def progress(self, job_id: str, worker_id: str, report: Progress, lease_seconds: float) -> bool:
        """Record a step (and renew the lease) in one round trip. True when the worker must stop:
        cancellation was asked for, or the job is no longer this worker's."""
        stage, step, total, percent = report.stage, report.step, report.total, int(report.done * 100)
        with writing(self.engine) as connection:
            row = connection.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.worker_id == worker_id, jobs.c.state == JobState.RUNNING)
                .values(
                    stage=stage,
                    step=step,
                    total=total,
                    progress=percent,
                    lease_until=time.time() + lease_seconds,
                )
                .returning(jobs.c.id, jobs.c.owner, jobs.c.model, jobs.c.surface, jobs.c.cancel_requested)
            ).first()
            if row is None:
                return True
            data = {"stage": stage, "step": step, "total": total, "progress": percent}
            self._append(connection, row, "progress", data)
            return bool(row.cancel_requested)

    def heartbeat(self, job_id: str, worker_id: str, lease_seconds: float) -> bool:
        """Renew the lease without an event. True when the worker must stop (as for `progress`)."""
        with writing(self.engine) as connection:
            row = connection.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.worker_id == worker_id, jobs.c.state == JobState.RUNNING)
                .values(lease_until=time.time() + lease_seconds)
                .returning(jobs.c.cancel_requested)
            ).first()
            return row is None or bool(row.cancel_requested)

    def finish(
        self,
        job_id: str,
        worker_id: str,
        state: JobState,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
        seconds: float | None = None,
    ) -> bool:
        """End this worker's attempt. False (and nothing written) if the job is no longer its own.
        `seconds`: of video it made, for a job that could not tell before it ran."""
        assert state.terminal
        values: dict[str, Any] = {"state": state, "result": result, "error": error,
                                  "finished_at": time.time(), "lease_until": None}  # fmt: skip
        if seconds is not None:
            values["seconds"] = seconds
        with writing(self.engine) as connection:
            row = connection.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.worker_id == worker_id, jobs.c.state == JobState.RUNNING)
                .values(**values)
                .returning(jobs.c.id, jobs.c.owner, jobs.c.model, jobs.c.surface)
            ).first()
            if row is None:
                return False
            data = result if state is JobState.SUCCEEDED else error
            self._append(connection, row, state, data or {})
            return True

    def discard_result(self, job_id: str, mark: Mapping[str, Any] = DISCARDED) -> str | None:
        """Forget where a succeeded job's file is, keeping its description (with `mark` added: why); the
        storage key to delete, or None when there is none (already forgotten, or no such result)."""
        with writing(self.engine) as connection:
            row = connection.execute(sa.select(jobs.c.result).where(jobs.c.id == job_id)).first()
            if row is None or not row.result or "key" not in row.result:
                return None
            kept = {name: value for name, value in row.result.items() if name != "key"}
            connection.execute(jobs.update().where(jobs.c.id == job_id).values(result={**kept, **mark}))
            key: str = row.result["key"]
            return key

    def ended_before(self, moment: float, states: Sequence[JobState] = TERMINAL) -> list[tuple[str, bool]]:
        """The jobs in `states` that ended before `moment`: (id, whether its result's file is kept)."""
        with reading(self.engine) as connection:
            ended = sa.and_(jobs.c.state.in_(states), jobs.c.finished_at < moment)
            rows = connection.execute(sa.select(jobs.c.id, jobs.c.result).where(ended))
            return [(row.id, bool(row.result) and "key" in row.result) for row in rows]

    def submitted(self, owner: str, idempotency_key: str) -> list[str] | None:
        """The jobs of the owner's submission of that name within IDEMPOTENCY_WINDOW, if there was one."""
        with reading(self.engine) as connection:
            return _submitted(connection, owner, idempotency_key, time.time())

    def forget_submissions(self, before: float) -> int:
        """Forget the names of submissions made before `before`; how many."""
        with writing(self.engine) as connection:
            return connection.execute(submissions.delete().where(submissions.c.created_at < before)).rowcount

    def forget(self, job_id: str) -> str | None:
        """Delete an ended job's row, events and webhook (whoever owns it); its result's storage key, to
        delete, or None."""
        return self._delete(sa.and_(jobs.c.id == job_id, jobs.c.state.in_(TERMINAL)))

    def count_by_state_and_model(self) -> dict[tuple[str, str], int]:
        with reading(self.engine) as connection:
            rows = connection.execute(
                sa.select(jobs.c.state, jobs.c.model, sa.func.count()).group_by(jobs.c.state, jobs.c.model)
            )
            return {(row[0], row[1]): int(row[2]) for row in rows}

    def unfinished_requests(self) -> list[dict[str, Any]]:
        """What every queued or running job asked for (the uploads it will read are named there)."""
        with reading(self.engine) as connection:
            rows = connection.execute(
                sa.select(jobs.c.request).where(jobs.c.state.in_([JobState.QUEUED, JobState.RUNNING]))
            )
            return [row.request for row in rows]

    def delete(self, job_id: str, owner: str) -> str | None:
        """Forget one of `owner`'s jobs: its row, events and webhook. A worker running it finds it gone
        at its next step and stops. The storage key of its result, to delete, or None."""
        return self._delete(sa.and_(jobs.c.id == job_id, jobs.c.owner == owner))

    def _delete(self, which: sa.ColumnElement[bool]) -> str | None:
        """Delete the job `which` selects, with its events and webhook; its result's storage key."""
        with writing(self.engine) as connection:
            row = connection.execute(jobs.delete().where(which).returning(jobs.c.id, jobs.c.result)).first()
            if row is None:
                return None
            connection.execute(job_events.delete().where(job_events.c.job_id == row.id))
            connection.execute(webhook_rows.delete().where(webhook_rows.c.job_id == row.id))
            key: str | None = (row.result or {}).get("key")
            return key

    def release(self, job_id: str, worker_id: str) -> bool:
        """Put this worker's job back in the queue without counting the attempt (graceful shutdown).
        False if it is no longer this worker's, or its cancellation was asked for."""
        with writing(self.engine) as connection:
            row = connection.execute(
                jobs.update()
                .where(
                    jobs.c.id == job_id, jobs.c.worker_id == worker_id, jobs.c.state == JobState.RUNNING,
                    jobs.c.cancel_requested == sa.false(),
                )
                .values(
                    state=JobState.QUEUED, worker_id=None, lease_until=None, attempts=jobs.c.attempts - 1,
                    stage=None, step=0, total=0, progress=0,
                )
                .returning(jobs.c.id, jobs.c.owner, jobs.c.model, jobs.c.surface)
            ).first()  # fmt: skip
            if row is None:
                return False
            self._append(connection, row, "requeued", {"reason": "worker shut down"})
            self._wake_workers(connection)
            return True

    def running_workers(self) -> set[str]:
        with reading(self.engine) as connection:
            rows = connection.execute(
                sa.select(jobs.c.worker_id).where(jobs.c.state == JobState.RUNNING).distinct()
            )
            return {row.worker_id for row in rows if row.worker_id}

    def reap(self, dead_workers: Iterable[str] = ()) -> tuple[list[str], list[str]]:
        """Requeue the running jobs whose lease ran out or whose worker is known dead; a job out of
        attempts fails instead, and one whose cancellation was asked for is cancelled.
        (requeued ids, failed ids)"""
        now = time.time()
        dead = sa.and_(
            jobs.c.state == JobState.RUNNING,
            sa.or_(jobs.c.lease_until < now, jobs.c.worker_id.in_(list(dead_workers))),
        )
        requeued, failed = [], []
        with writing(self.engine) as connection:
            query = sa.select(
                jobs.c.id,
                jobs.c.owner,
                jobs.c.model,
                jobs.c.surface,
                jobs.c.attempts,
                jobs.c.max_attempts,
                jobs.c.cancel_requested,
            ).where(dead)
            if self.postgres:
                query = query.with_for_update(skip_locked=True)
            for row in connection.execute(query).all():
                ended = {"finished_at": now, "lease_until": None, "worker_id": None}
                if row.cancel_requested:
                    update: dict[str, Any] = {"state": JobState.CANCELLED, **ended}
                    kind, data = str(JobState.CANCELLED), {}
                elif row.attempts >= row.max_attempts:
                    error = {"message": f"the worker running it was lost {row.attempts} times",
                             "field": None, "code": "worker_lost"}  # fmt: skip
                    update = {"state": JobState.FAILED, "error": error, **ended}
                    kind, data = str(JobState.FAILED), error
                    failed.append(row.id)
                else:
                    update = {"state": JobState.QUEUED, "worker_id": None, "lease_until": None,
                              "stage": None, "step": 0, "total": 0, "progress": 0}  # fmt: skip
                    kind, data = "requeued", {"reason": "worker lost"}
                    requeued.append(row.id)
                connection.execute(jobs.update().where(jobs.c.id == row.id).values(**update))
                self._append(connection, row, kind, data)
            if requeued:
                self._wake_workers(connection)
        return requeued, failed
