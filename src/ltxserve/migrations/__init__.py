"""Schema migrations (Alembic), applied when a process opens the database: a data directory made by an
older version upgrades in place. A database made before migrations existed holds the baseline schema
(revision 0001) and is stamped with it first.

A new revision is a file in `versions/` after the last one (its `down_revision`), written by hand
with `alembic.op`; `tests/test_database.py` checks that the head matches `database.metadata`.
"""

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

BASELINE = "0001"


def config(connection: Connection | None = None) -> Config:
    settings = Config()
    settings.set_main_option("script_location", str(Path(__file__).parent))
    settings.attributes["connection"] = connection
    return settings


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Bring the schema behind `connection` to `revision`, inside the caller's transaction."""
    settings = config(connection)
    inspector = sa.inspect(connection)
    if not inspector.has_table("alembic_version") and inspector.has_table("jobs"):
        command.stamp(settings, BASELINE)
    command.upgrade(settings, revision)
