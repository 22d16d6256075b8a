"""A dialect is bound to its routes, not to a URL prefix: two surfaces under the same `/v1` answer
every error (their own, FastAPI's parameter checks, a missing key, a body over the limit) in their own
envelope and take their own auth schemes. In-process, over ASGI."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from ltxserve.api.app import BodyLimit
from ltxserve.api.auth import Authenticator, Owner
from ltxserve.api.dialect import Dialect, install_error_handlers
from ltxserve.api.errors import ApiError
from ltxserve.database import open_database
from ltxserve.keys import KeyStore


def envelope(name: str) -> Dialect:
    def render(error: ApiError) -> dict[str, Any]:
        return {name: {"code": error.code, "field": error.field}}

    return Dialect(name, render, ("Key",) if name == "second" else ("Bearer",))


FIRST, SECOND = envelope("first"), envelope("second")
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def surface(dialect: Dialect, path: str) -> Any:
    router = dialect.router()

    @router.post(path)
    async def submit(request: Request, owner: Owner, count: int = 1) -> dict[str, Any]:
        body = await request.body()
        if body == b"bad":
            raise ApiError(400, "invalid_params", "bad", "prompt")
        return {"owner": owner, "count": count, "bytes": len(body)}

    return router


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, str, str]]:
    keys = KeyStore(open_database(f"sqlite:///{tmp_path / 'db.sqlite'}"))
    key, secret = keys.create("team")
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(BodyLimit, json_limit=100, upload_limit=1000)
    app.state.authenticator = Authenticator(keys, requests_per_minute=1000)
    app.include_router(surface(FIRST, "/v1/first"))
    app.include_router(surface(SECOND, "/v1/second"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client, secret, key.id


async def test_each_surface_takes_its_own_auth_scheme(client: tuple[httpx.AsyncClient, str, str]) -> None:
    http, secret, owner = client
    ok = await http.post("/v1/first", headers={"Authorization": f"Bearer {secret}"})
    assert ok.status_code == 200 and ok.json()["owner"] == owner
    ok = await http.post("/v1/second", headers={"Authorization": f"key {secret}"})
    assert ok.status_code == 200 and ok.json()["owner"] == owner
    refused = await http.post("/v1/second", headers={"Authorization": f"Bearer {secret}"})
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Key"
    assert refused.json() == {"second": {"code": "unauthenticated", "field": None}}
    refused = await http.post("/v1/first", headers={"Authorization": f"Key {secret}"})
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert refused.json() == {"first": {"code": "unauthenticated", "field": None}}


@pytest.mark.parametrize("name", ["first", "second"])
async def test_every_error_comes_back_in_the_envelope_of_the_route(
    client: tuple[httpx.AsyncClient, str, str], name: str
) -> None:
    http, secret, _ = client
    scheme = "Key" if name == "second" else "Bearer"
    headers = {"Authorization": f"{scheme} {secret}"}
    own = await http.post(f"/v1/{name}", headers=headers, content=b"bad")
    assert own.status_code == 400 and own.json() == {name: {"code": "invalid_params", "field": "prompt"}}
    checked = await http.post(f"/v1/{name}?count=many", headers=headers)
    assert checked.status_code == 422 and checked.json() == {
        name: {"code": "invalid_params", "field": "count"}
    }
    declared = await http.post(f"/v1/{name}", headers=headers, content=b"x" * 101)
    assert declared.status_code == 413
    assert declared.json() == {name: {"code": "request_too_large", "field": "body"}}

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(3):
            yield b"x" * 40

    streamed = await http.post(f"/v1/{name}", headers=headers, content=chunks())
    assert streamed.status_code == 413
    assert streamed.json() == {name: {"code": "request_too_large", "field": "body"}}
    at_the_limit = await http.post(f"/v1/{name}", headers=headers, content=b"x" * 100)
    assert at_the_limit.status_code == 200 and at_the_limit.json()["bytes"] == 100


async def test_a_request_that_reaches_no_surface_gets_the_plain_envelope(
    client: tuple[httpx.AsyncClient, str, str],
) -> None:
    http, *_ = client
    missing = await http.post("/v1/third")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
