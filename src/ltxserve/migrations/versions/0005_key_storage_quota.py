"""A key's own storage quota: bytes of uploads it may keep (NULL: the server's default)."""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("storage_quota", sa.BigInteger))
