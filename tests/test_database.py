"""The schema is made and upgraded by migrations: a database made before them upgrades in place with
its rows intact, and the migrations' head is exactly the schema the code describes."""

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from ltxserve import migrations
from ltxserve.database import IDLE_IN_TRANSACTION_MS, JobState, metadata, open_database, reading
from ltxserve.jobs.store import JobStore
from tests.servers import Postgres

BEFORE_MIGRATIONS = Path(__file__).with_name("data") / "schema-before-migrations.sql"
"""The schema version 0.1.0 made (`metadata.create_all`, no alembic_version), dumped from SQLite."""


def test_a_database_made_before_migrations_upgrades_in_place(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    with sqlite3.connect(path) as old:
        old.executescript(BEFORE_MIGRATIONS.read_text())
        old.execute(
            "INSERT INTO jobs (id, owner, model, state, request, params, created_at) "
            "VALUES ('old-job', 'team', 'ltx-2-3-pro', 'queued', '{}', '{\"prompt\": \"x\"}', 1.0)"
        )
        old.execute(
            "INSERT INTO job_events (job_id, owner, model, type, data, ts) "
            "VALUES ('old-job', 'team', 'ltx-2-3-pro', 'queued', '{}', 1.0)"
        )
    engine = open_database(f"sqlite:///{path}")
    with reading(engine) as connection:
        version = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
    head = ScriptDirectory.from_config(migrations.config()).get_current_head()
    assert version == head and int(head or 0) >= 2
    store = JobStore(engine)
    job = store.get("old-job")
    assert job is not None and job.state is JobState.QUEUED and job.params == {"prompt": "x"}
    assert job.surface == "oxen" and job.progress == 0
    assert [event.surface for event in store.events_after(0)] == ["oxen"]
    assert open_database(f"sqlite:///{path}").dialect.name == "sqlite"  # a second start changes nothing


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_migrations_make_exactly_the_schema_the_code_describes(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    else:
        url = request.getfixturevalue("postgres").new_database()
    engine = open_database(url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert [d for d in differences if not _is_version_table(d)] == []


def _is_version_table(difference: object) -> bool:
    return isinstance(difference, tuple) and getattr(difference[1], "name", None) == "alembic_version"


def test_every_postgresql_session_carries_the_idle_in_transaction_limit(postgres: Postgres) -> None:
    """A host cut off mid-transaction must not hold its rows for ever (tests/test_scale_out.py found a
    job no other host could take over): PostgreSQL ends a session idle in a transaction for longer than
    the limit, and every session the engine opens carries it."""
    engine = open_database(postgres.new_database())
    with engine.connect() as connection:
        setting = connection.execute(sa.text("SHOW idle_in_transaction_session_timeout")).scalar_one()
    assert setting == f"{IDLE_IN_TRANSACTION_MS // 1000}s"
