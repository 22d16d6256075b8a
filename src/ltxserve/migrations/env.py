"""Alembic's entry point: migrations run on the connection `ltxserve.migrations.upgrade` hands over."""

from alembic import context

connection = context.config.attributes["connection"]
if connection is None:
    raise RuntimeError("run migrations through ltxserve.migrations.upgrade (it opens the database)")
context.configure(connection=connection)
with context.begin_transaction():
    context.run_migrations()
