"""`python -m ltxserve`: the command line (how serve starts its workers)."""

from ltxserve.cli import app

app()
