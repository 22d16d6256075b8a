"""Jobs by when they ended: the retention sweep looks for those that ended long enough ago."""

from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_index("ix_jobs_finished", "jobs", ["finished_at"])
