"""A dialect: how one provider's surface reports errors and takes keys. It is bound to that surface's
routes, not to a URL prefix, because `/v1/...` belongs to more than one provider.

A surface makes its router with `Dialect.router()`: every error raised while handling one of its
routes (ours, FastAPI's parameter checks, a missing key) comes back in its envelope, and `Owner`
accepts its auth schemes. Requests that reach no surface's route get the plain dialect.
"""

from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.types import Scope

from ltxserve.api.errors import (
    ApiError,
    ErrorRenderer,
    from_http_error,
    from_validation_error,
    plain_error,
    refused,
)
from ltxserve.jobs.store import QuotaExceededError


@dataclass(frozen=True)
class Dialect:
    name: str
    render_error: ErrorRenderer
    auth_schemes: tuple[str, ...] = ("Bearer",)
    """`Authorization: <scheme> <key>` forms accepted, case-insensitively; the first is advertised."""
    statuses: Mapping[int, int] = field(default_factory=dict)
    """A status as this provider answers it instead (the LTX API: invalid input is 400, not 422)."""

    def router(self) -> APIRouter:
        route_class = type(f"{self.name.title()}Route", (DialectRoute,), {"dialect": self})
        return APIRouter(tags=[self.name], route_class=route_class)

    def response(self, error: ApiError) -> JSONResponse:
        headers = dict(error.headers)
        if error.status == 401:
            headers["WWW-Authenticate"] = self.auth_schemes[0]
        status = self.statuses.get(error.status, error.status)
        return JSONResponse(self.render_error(error), status_code=status, headers=headers)


PLAIN = Dialect("ltxserve", plain_error, ("Bearer", "Key"))
"""Routes that belong to no provider (files, uploads, health) and requests that match no route."""


class DialectRoute(APIRoute):
    dialect: ClassVar[Dialect] = PLAIN

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        dialect = self.dialect

        async def handle_in_dialect(request: Request) -> Response:
            try:
                return await handle(request)
            except ApiError as error:
                return dialect.response(error)
            except QuotaExceededError as error:  # a quota met outside a submission: an upload
                return dialect.response(refused(error))
            except RequestValidationError as error:
                return dialect.response(from_validation_error(error))
            except HTTPException as error:
                return dialect.response(from_http_error(error))

        return handle_in_dialect


def dialect_of(scope: Scope) -> Dialect:
    """The dialect of the route that `scope` reached (plain before routing, or when none matched)."""
    route = scope.get("route")
    return route.dialect if isinstance(route, DialectRoute) else PLAIN


def install_error_handlers(app: FastAPI) -> None:
    """Errors outside any route (an unknown path, a wrong method) in the plain envelope."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> JSONResponse:
        return dialect_of(request.scope).response(error)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
        return dialect_of(request.scope).response(from_http_error(error))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        return dialect_of(request.scope).response(from_validation_error(error))
