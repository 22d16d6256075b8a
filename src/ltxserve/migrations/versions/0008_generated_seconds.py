"""Seconds of video each job makes, and a key's own allowance of them a day."""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.add_column("jobs", sa.Column("seconds", sa.Float))
    op.add_column("api_keys", sa.Column("seconds_per_day", sa.Integer))
    op.create_index("ix_jobs_owner_created", "jobs", ["owner", "created_at"])
