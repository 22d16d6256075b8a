"""Webhooks as durable rows: one per job that asked to be called back, added in the job's own
transaction, taken by one sender at a time once the job has ended, and kept until delivered or
given up, so a restart loses none.

A sender `take`s due rows (moving their `next_at` past its own attempt, which is its hold on them:
two API processes never send the same one at once), sends each, then records `delivered`, a `retry`
at the next time of the backoff, or `abandoned` after the last.
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ltxserve.database import JobState, jobs, reading, webhooks, writing

BACKOFF = (15, 30, 60, 120, 300, 600, 900, 1200, 1800, 2400)
"""Seconds before each retry: ten retries over about two hours, as fal's."""
HOLD = 60.0
"""Seconds a sender holds a row it took; a sender that dies gives it back this way."""


@dataclass(frozen=True)
class Callback:
    """What a submission asks for: where to call, and the base URL its links were asked from."""

    url: str
    base_url: str


@dataclass(frozen=True)
class Webhook:
    job_id: str
    owner: str
    surface: str
    url: str
    base_url: str
    attempts: int
    """Deliveries tried before this one."""


def add(connection: Connection, job_id: str, owner: str, surface: str, callback: Callback) -> None:
    """In the transaction that queues the job."""
    now = time.time()
    connection.execute(
        webhooks.insert().values(
            job_id=job_id, owner=owner, surface=surface, url=callback.url, base_url=callback.base_url,
            next_at=now, created_at=now,
        )
    )  # fmt: skip


class WebhookStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def take(self, limit: int = 16, now: float | None = None) -> list[Webhook]:
        """Due webhooks of ended jobs, held by this caller for `HOLD` seconds."""
        now = time.time() if now is None else now
        pending = sa.and_(
            webhooks.c.delivered_at.is_(None),
            webhooks.c.abandoned_at.is_(None),
            webhooks.c.next_at <= now,
            jobs.c.state.in_([state for state in JobState if state.terminal]),
        )
        query = (
            sa.select(webhooks.c.number, webhooks.c.job_id, webhooks.c.owner, webhooks.c.surface,
                      webhooks.c.url, webhooks.c.base_url, webhooks.c.attempts)
            .join(jobs, jobs.c.id == webhooks.c.job_id)
            .where(pending)
            .order_by(webhooks.c.next_at)
            .limit(limit)
        )  # fmt: skip
        with reading(self.engine) as connection:  # most looks find nothing: no write lock for them
            if connection.execute(query).first() is None:
                return []
        with writing(self.engine) as connection:
            if self.engine.dialect.name == "postgresql":
                query = query.with_for_update(of=webhooks, skip_locked=True)
            rows = connection.execute(query).all()
            if rows:
                numbers = [row.number for row in rows]
                connection.execute(
                    webhooks.update().where(webhooks.c.number.in_(numbers)).values(next_at=now + HOLD)
                )
        return [
            Webhook(row.job_id, row.owner, row.surface, row.url, row.base_url, row.attempts) for row in rows
        ]

    def delivered(self, job_id: str) -> None:
        self._update(job_id, delivered_at=time.time(), attempts=webhooks.c.attempts + 1, last_error=None)

    def failed(self, hook: Webhook, error: str, final: bool = False) -> bool:
        """Record a failed delivery; True when it will be retried, False when it is given up (after
        the last of the backoff, or at once when `final`)."""
        attempts = hook.attempts + 1
        if final or attempts > len(BACKOFF):
            self._update(hook.job_id, abandoned_at=time.time(), attempts=attempts, last_error=error)
            return False
        self._update(
            hook.job_id, next_at=time.time() + BACKOFF[attempts - 1], attempts=attempts, last_error=error
        )
        return True

    def of(self, job_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Each job's webhook: url, attempts, last error, delivered or abandoned time."""
        query = sa.select(webhooks).where(webhooks.c.job_id.in_(list(job_ids)))
        with reading(self.engine) as connection:
            return {row.job_id: dict(row._mapping) for row in connection.execute(query)}

    def _update(self, job_id: str, **values: object) -> None:
        with writing(self.engine) as connection:
            connection.execute(webhooks.update().where(webhooks.c.job_id == job_id).values(**values))
