"""The database: its schema, and an SQLAlchemy engine set up for it.

One schema and one code path for SQLite (embedded: WAL, writers serialised by BEGIN IMMEDIATE) and
PostgreSQL (scale-out). `metadata` describes the schema the migrations (`ltxserve.migrations`) make.
The tables are used by `jobs.store` (jobs, job_events, workers), `jobs.webhooks` (webhooks), `keys`
(api_keys, request_counts) and `shared_secret` (settings).
"""

import contextlib
import secrets
import threading
import weakref
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from ltxserve import migrations


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


metadata = sa.MetaData()

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("number", sa.BigInteger().with_variant(sa.Integer, "sqlite"), sa.Identity(), primary_key=True),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("owner", sa.String(64), nullable=False),
    sa.Column("model", sa.String(64), nullable=False),
    sa.Column("surface", sa.String(16), nullable=False, server_default="oxen"),
    sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("request", sa.JSON, nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("cost", sa.Float),
    sa.Column("seconds", sa.Float),
    sa.Column("result", sa.JSON),
    sa.Column("error", sa.JSON),
    sa.Column("stage", sa.String(32)),
    sa.Column("step", sa.Integer, nullable=False, server_default="0"),
    sa.Column("total", sa.Integer, nullable=False, server_default="0"),
    sa.Column("progress", sa.SmallInteger, nullable=False, server_default="0"),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("max_attempts", sa.Integer, nullable=False, server_default="3"),
    sa.Column("worker_id", sa.String(128)),
    sa.Column("lease_until", sa.Float),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float),
    sa.Column("finished_at", sa.Float),
)
sa.Index(
    "ix_jobs_queued",
    jobs.c.priority.desc(),
    jobs.c.number,
    sqlite_where=jobs.c.state == JobState.QUEUED,
    postgresql_where=jobs.c.state == JobState.QUEUED,
)
sa.Index("ix_jobs_owner", jobs.c.owner, jobs.c.number)
sa.Index("ix_jobs_owner_started", jobs.c.owner, jobs.c.started_at)
sa.Index("ix_jobs_owner_created", jobs.c.owner, jobs.c.created_at)
sa.Index("ix_jobs_finished", jobs.c.finished_at)
sa.Index(
    "ix_jobs_running",
    jobs.c.owner,
    sqlite_where=jobs.c.state == JobState.RUNNING,
    postgresql_where=jobs.c.state == JobState.RUNNING,
)

job_events = sa.Table(
    "job_events",
    metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), sa.Identity(), primary_key=True),
    sa.Column("job_id", sa.String(36), nullable=False),
    sa.Column("owner", sa.String(64), nullable=False),
    sa.Column("model", sa.String(64), nullable=False),
    sa.Column("surface", sa.String(16), nullable=False, server_default="oxen"),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("ts", sa.Float, nullable=False),
)
sa.Index("ix_job_events_owner", job_events.c.owner, job_events.c.seq)
sa.Index("ix_job_events_job", job_events.c.job_id, job_events.c.seq)

workers = sa.Table(
    "workers",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("seen_at", sa.Float, nullable=False),
)
"""Workers that are up, each seen at least every quarter lease while it waits for work (a running job's
lease says the same while it works); a worker that stops cleanly removes its row."""

webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("number", sa.BigInteger().with_variant(sa.Integer, "sqlite"), sa.Identity(), primary_key=True),
    sa.Column("job_id", sa.String(36), nullable=False, unique=True),
    sa.Column("owner", sa.String(64), nullable=False),
    sa.Column("surface", sa.String(16), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("base_url", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_at", sa.Float, nullable=False),  # a sender holds a row by moving this past its send
    sa.Column("last_error", sa.Text),
    sa.Column("delivered_at", sa.Float),
    sa.Column("abandoned_at", sa.Float),
    sa.Column("created_at", sa.Float, nullable=False),
)
sa.Index(
    "ix_webhooks_pending",
    webhooks.c.next_at,
    sqlite_where=sa.and_(webhooks.c.delivered_at.is_(None), webhooks.c.abandoned_at.is_(None)),
    postgresql_where=sa.and_(webhooks.c.delivered_at.is_(None), webhooks.c.abandoned_at.is_(None)),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(16), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("digest", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float),
    sa.Column("storage_quota", sa.BigInteger),
    sa.Column("requests_per_minute", sa.Integer),
    sa.Column("max_unfinished", sa.Integer),
    sa.Column("max_running", sa.Integer),
    sa.Column("seconds_per_day", sa.Integer),
)

request_counts = sa.Table(
    "request_counts",
    metadata,
    sa.Column("key_id", sa.String(16), primary_key=True),
    sa.Column("window", sa.BigInteger, primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
)
"""Requests per key per minute (`window` is the minute since the epoch), for the rate limit."""

submissions = sa.Table(
    "submissions",
    metadata,
    sa.Column("owner", sa.String(64), primary_key=True),
    sa.Column("idempotency_key", sa.String(320), primary_key=True),
    sa.Column("job_ids", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)
"""Submissions a client named with an Idempotency-Key (`idempotency_key` is "<surface> <name>": each
surface's names are its own): the same name again answers the same jobs."""
sa.Index("ix_submissions_created", submissions.c.created_at)

settings = sa.Table(
    "settings",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)


IDLE_IN_TRANSACTION_MS = 30_000


def open_database(url: str) -> Engine:
    """An engine for `url` (sqlite:///path or postgresql://...), with the schema created or upgraded."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # a server may restart under a pooled connection; a file may not (and a ping per checkout costs
    # SQLite a query on every request)
    postgres = url.startswith("postgresql")
    # A host that loses its network mid-transaction leaves its PostgreSQL session waiting for a COMMIT
    # that never comes, holding the rows it touched (a job it runs: no other worker could take it over
    # when its lease runs out). Every transaction here is a few statements back to back, so the
    # server ends any left idle for longer.
    idle = {"options": f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}"}
    engine = sa.create_engine(url, pool_pre_ping=postgres, connect_args=idle if postgres else {})
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    elif engine.dialect.name != "postgresql":
        raise ValueError(f"unsupported database {engine.dialect.name}: use sqlite:/// or postgresql://")
    with writing(engine) as connection:
        if engine.dialect.name == "postgresql":  # several processes may start at once
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(0x17C5E7)))
        migrations.upgrade(connection)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    """WAL, a long busy timeout, and BEGIN IMMEDIATE for writes: two writers then queue for the lock
    instead of deadlocking while upgrading a read lock."""

    _sqlite_writers[engine] = threading.Lock()

    @sa_event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # transactions are begun below, explicitly
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000"):
            dbapi_connection.execute(f"PRAGMA {pragma}")

    @sa_event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        readonly = connection.get_execution_options().get("readonly", False)
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


_sqlite_writers: "weakref.WeakKeyDictionary[Engine, threading.Lock]" = weakref.WeakKeyDictionary()
"""One lock per SQLite engine: its threads take turns writing in order, instead of meeting SQLite's
busy handler, which sleeps up to 100 ms between tries (the tail of every write under load)."""


@contextlib.contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    with _sqlite_writers.get(engine) or contextlib.nullcontext(), engine.begin() as connection:
        yield connection


@contextlib.contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    with engine.connect().execution_options(readonly=True) as connection, connection.begin():
        yield connection


def shared_secret(engine: Engine, name: str) -> bytes:
    """A random secret shared by every process using this database, made on first use."""
    candidate = secrets.token_hex(32)
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    with writing(engine) as connection:
        connection.execute(insert(settings).values(name=name, value=candidate).on_conflict_do_nothing())
        value = connection.execute(sa.select(settings.c.value).where(settings.c.name == name)).scalar_one()
    return bytes.fromhex(value)
