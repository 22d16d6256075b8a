"""Webhooks: one row per job that asked to be called back, kept until it is delivered or given up."""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column(
            "number", sa.BigInteger().with_variant(sa.Integer, "sqlite"), sa.Identity(), primary_key=True
        ),
        sa.Column("job_id", sa.String(36), nullable=False, unique=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("surface", sa.String(16), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("base_url", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_at", sa.Float, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("delivered_at", sa.Float),
        sa.Column("abandoned_at", sa.Float),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    pending = sa.text("delivered_at IS NULL AND abandoned_at IS NULL")
    op.create_index(
        "ix_webhooks_pending", "webhooks", ["next_at"], sqlite_where=pending, postgresql_where=pending
    )
