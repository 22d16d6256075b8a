"""Workers that are up: one row per worker process, renewed while it waits for work."""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("seen_at", sa.Float, nullable=False),
    )
