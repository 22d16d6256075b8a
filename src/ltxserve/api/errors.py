"""Errors as every surface reports them: one exception, rendered in the envelope of the dialect whose
route the request reached (`api.dialect`), or the plain one when it reached none."""

import logging
import math
from collections.abc import Callable
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from ltxserve.api.service import StorageQuotaError
from ltxserve.catalog import ParamsError
from ltxserve.inputs import FetchError
from ltxserve.jobs.store import DailyLimitError, QuotaExceededError
from ltxserve.request import InvalidRequestError

log = logging.getLogger("ltxserve.api")
RETRY_AFTER_SECONDS = 30
"""What a 429 for too many unfinished jobs tells the client to wait before trying again."""


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        details: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.headers = headers or {}
        """Sent with the error (Retry-After)."""
        self.status = status
        self.code = code
        """Machine-readable: invalid_params, unauthenticated, not_found, quota_exceeded, ..."""
        self.message = message
        self.field = field
        self.details = details or []
        """Every (field, message) when there is more than one problem."""


ErrorRenderer = Callable[[ApiError], dict[str, Any]]


def plain_error(error: ApiError) -> dict[str, Any]:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.field is not None:
        body["field"] = error.field
    if error.details:
        body["details"] = error.details
    return {"error": body}


_STATUS_CODES = {400: "bad_request", 401: "unauthenticated", 404: "not_found", 405: "method_not_allowed",
                 413: "request_too_large", 422: "invalid_params", 429: "quota_exceeded"}  # fmt: skip


def from_http_error(error: HTTPException) -> ApiError:
    return ApiError(error.status_code, _STATUS_CODES.get(error.status_code, "error"), str(error.detail))


def from_validation_error(error: RequestValidationError) -> ApiError:
    """FastAPI's own parameter checks (query, headers), named by the parameter."""
    details = [
        {"field": ".".join(str(part) for part in detail["loc"][1:]) or str(detail["loc"][0]),
         "message": detail["msg"]}
        for detail in error.errors()
    ]  # fmt: skip
    first = details[0]
    return ApiError(422, "invalid_params", first["message"], first["field"], details)


def client_gone(received: int | None = None) -> ApiError:
    """A client that went away while sending its body: one line in the log, not a traceback (the
    answer reaches no one)."""
    got = "" if received is None else f" after {received} bytes"
    log.info("the client went away while sending its request%s", got)
    return ApiError(400, "client_disconnected", "the request's body ended early")


def quoted(value: object, limit: int = 64) -> str:
    """`value` as an error message shows it: quoted, and no more than `limit` characters of it."""
    text = str(value)
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text)} characters)"


def refused(error: Exception, name: Callable[[str], str] = str) -> ApiError:
    """A submission the Service refused, in the terms every dialect renders: each parameter at fault
    (422 invalid_params, the parameter as `name` spells it), or the owner's limit of unfinished jobs
    (429 quota_exceeded, with Retry-After), or its seconds of video a day (429 daily_limit_exceeded,
    with Retry-After: when the day ends), or the owner's storage quota (413 storage_quota_exceeded:
    waiting frees nothing). Anything else is re-raised."""
    if isinstance(error, InvalidRequestError):
        problems = error.errors if isinstance(error, ParamsError) else [(error.field, error.message)]
        details = [{"field": name(field), "message": message} for field, message in problems]
        return ApiError(422, "invalid_params", error.message, name(error.field), details)
    if isinstance(error, FetchError):
        return ApiError(422, "invalid_params", str(error), "body")
    if isinstance(error, StorageQuotaError):
        return ApiError(413, "storage_quota_exceeded", str(error))
    if isinstance(error, DailyLimitError):
        wait = str(math.ceil(error.retry_after))
        return ApiError(429, "daily_limit_exceeded", str(error), headers={"Retry-After": wait})
    if isinstance(error, QuotaExceededError):
        return ApiError(429, "quota_exceeded", str(error), headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    raise error
