"""A key's own limits (NULL: the server's default), and its requests counted per minute."""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("storage_quota", sa.BigInteger))
    op.add_column("api_keys", sa.Column("requests_per_minute", sa.Integer))
    op.add_column("api_keys", sa.Column("max_unfinished", sa.Integer))
    op.add_column("api_keys", sa.Column("max_running", sa.Integer))
    op.create_table(
        "request_counts",
        sa.Column("key_id", sa.String(16), primary_key=True),
        sa.Column("window", sa.BigInteger, primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
    )
