"""The API in-process: the real app (routes, auth, store, storage, event hub) over ASGI, without a
server or workers, for tests of shapes. Jobs are moved through their states with the store, as a
worker would."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from ltxserve.api.app import create_app
from ltxserve.api.service import Service
from ltxserve.settings import Settings


@dataclass(frozen=True)
class Api:
    http: httpx.AsyncClient
    service: Service


@asynccontextmanager
async def api(data_dir: Path, **settings: object) -> AsyncIterator[Api]:
    """No auth unless asked: every caller is the local owner."""
    app = create_app(Settings(data_dir=data_dir, auth=False, **settings), None)  # type: ignore[arg-type]
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ltxserve.test") as http:
            yield Api(http, app.state.service)
