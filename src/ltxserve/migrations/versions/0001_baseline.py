"""The schema as it was before migrations: jobs, their events, API keys and shared settings."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("number", _ID, sa.Identity(), primary_key=True),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("request", sa.JSON, nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("cost", sa.Float),
        sa.Column("result", sa.JSON),
        sa.Column("error", sa.JSON),
        sa.Column("stage", sa.String(32)),
        sa.Column("step", sa.Integer, nullable=False, server_default="0"),
        sa.Column("total", sa.Integer, nullable=False, server_default="0"),
        sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("max_attempts", sa.Integer, nullable=False, server_default="3"),
        sa.Column("worker_id", sa.String(128)),
        sa.Column("lease_until", sa.Float),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float),
        sa.Column("finished_at", sa.Float),
    )
    queued = sa.text("state = 'queued'")
    op.create_index(
        "ix_jobs_queued",
        "jobs",
        [sa.text("priority DESC"), "number"],
        sqlite_where=queued,
        postgresql_where=queued,
    )
    op.create_index("ix_jobs_owner", "jobs", ["owner", "number"])
    op.create_index("ix_jobs_owner_started", "jobs", ["owner", "started_at"])
    running = sa.text("state = 'running'")
    op.create_index("ix_jobs_running", "jobs", ["owner"], sqlite_where=running, postgresql_where=running)
    op.create_table(
        "job_events",
        sa.Column("seq", _ID, sa.Identity(), primary_key=True),
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
    )
    op.create_index("ix_job_events_owner", "job_events", ["owner", "seq"])
    op.create_index("ix_job_events_job", "job_events", ["job_id", "seq"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("revoked_at", sa.Float),
    )
    op.create_table(
        "settings",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
