"""Submissions named by an Idempotency-Key, so that a retried submit answers the jobs it made."""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.create_table(
        "submissions",
        sa.Column("owner", sa.String(64), primary_key=True),
        sa.Column("idempotency_key", sa.String(320), primary_key=True),
        sa.Column("job_ids", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_submissions_created", "submissions", ["created_at"])
