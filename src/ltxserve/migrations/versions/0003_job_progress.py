"""Jobs keep the percent of their work done, as their worker last reported it."""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.add_column("jobs", sa.Column("progress", sa.SmallInteger, nullable=False, server_default="0"))
