"""Jobs and their events record the surface (dialect) that created them; the rows before this were
all made by the Oxen surface, the only one there was."""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    for table in ("jobs", "job_events"):
        op.add_column(table, sa.Column("surface", sa.String(16), nullable=False, server_default="oxen"))
