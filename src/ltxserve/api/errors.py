"""Errors as every surface reports them: one exception, rendered in the envelope of the surface the
request came to (each dialect registers its renderer for its path prefix)."""

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        details: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(f"{field}: {message}" if field else message)
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


def error_response(app: Any, path: str, error: ApiError) -> JSONResponse:
    """`error` in the envelope of the surface `path` belongs to."""
    renderers: list[tuple[str, ErrorRenderer]] = app.state.error_renderers
    renderer = next((render for prefix, render in renderers if path.startswith(prefix)), plain_error)
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return JSONResponse(renderer(error), status_code=error.status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    app.state.error_renderers = []

    def render(request: Request, error: ApiError) -> JSONResponse:
        return error_response(request.app, request.url.path, error)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> JSONResponse:
        return render(request, error)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(error.status_code, "error")
        return render(request, ApiError(error.status_code, code, str(error.detail)))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        details = [
            {"field": ".".join(str(part) for part in detail["loc"][1:]) or str(detail["loc"][0]),
             "message": detail["msg"]}
            for detail in error.errors()
        ]  # fmt: skip
        first = details[0]
        return render(request, ApiError(422, "invalid_params", first["message"], first["field"], details))


def register_renderer(app: FastAPI, prefix: str, renderer: ErrorRenderer) -> None:
    app.state.error_renderers.append((prefix, renderer))
