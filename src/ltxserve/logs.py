"""Logging as every command configures it: lines for a terminal, or one JSON object per line
(`--log-format json`, via python-json-logger) for a log pipeline. Every record carries the id of the
request and of the job it was written under (`request_id`, `job_id`), where there is one."""

import logging
import sys
from contextvars import ContextVar
from enum import StrEnum
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
job_id: ContextVar[str | None] = ContextVar("job_id", default=None)


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class _Ids(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.job_id = job_id.get()
        return True


class _TextFormatter(logging.Formatter):
    """The message, then the ids it was written under."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        names = ("request_id", "job_id")
        ids = [f"{name}={value}" for name in names if (value := getattr(record, name, None))]
        return f"{line} [{' '.join(ids)}]" if ids else line


def configure_logging(level: str, form: LogFormat = LogFormat.TEXT, stream: TextIO | None = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(_Ids())
    if form is LogFormat.JSON:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(job_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(_TextFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
