"""The HTTP application: one router per surface over one Service."""

import asyncio
import contextlib
import logging
import random
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ltxserve import __version__, logs
from ltxserve.api import fal, files, health, ltx, metrics, openai, oxen, web, webhooks
from ltxserve.api.auth import Authenticator
from ltxserve.api.bodies import whole_number
from ltxserve.api.dialect import install_error_handlers
from ltxserve.api.errors import ApiError
from ltxserve.api.service import Service
from ltxserve.api.webhooks import WebhookSender
from ltxserve.database import open_database, shared_secret
from ltxserve.engine.weights import WeightSet
from ltxserve.inputs import Fetcher
from ltxserve.jobs.events import EventHub
from ltxserve.jobs.store import JobStore
from ltxserve.jobs.webhooks import WebhookStore
from ltxserve.keys import KeyStore
from ltxserve.metrics import http_request_seconds
from ltxserve.retention import sweep
from ltxserve.settings import Settings
from ltxserve.storage import open_storage

log = logging.getLogger("ltxserve.api")
access = logging.getLogger("ltxserve.access")
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
"""A request id a client may choose (anything else is replaced by one of ours)."""


def create_app(settings: Settings, weights: WeightSet | None) -> FastAPI:
    """The API for `settings`. `weights` lets submissions be checked against the models a worker
    will load (None: workers check them when they run)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = open_database(settings.database_url)
        store = JobStore(database)
        secret = shared_secret(database, "url_signing")
        storage = open_storage(settings.storage_url, secret, settings.url_lifetime)
        hub = EventHub(store)
        await hub.start()
        keys = KeyStore(database) if settings.auth else None
        app.state.service = service = Service(settings, store, storage, hub, weights, keys)
        app.state.authenticator = Authenticator(keys, settings.requests_per_minute_per_key)
        fetcher = Fetcher(settings.fetch)
        signer = webhooks.Signer(shared_secret(database, "webhook_signing"))
        senders = {fal.FAL.name: fal.webhook_call}
        app.state.webhooks = sender = WebhookSender(service, WebhookStore(database), signer, fetcher, senders)
        await sender.start()
        sweeping = asyncio.create_task(_sweep_forever(service))
        try:
            yield
        finally:
            sweeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeping
            await sender.stop()
            fetcher.close()
            await hub.stop()
            database.dispose()

    # the API reference's assets (Swagger UI, ReDoc) from the package: no CDN
    app = FastAPIOffline(title="ltxserve", version=__version__, lifespan=lifespan, static_url="/docs-assets")
    install_error_handlers(app)
    app.add_middleware(BodyLimit, json_limit=settings.max_json_bytes, upload_limit=settings.max_upload_bytes)
    app.add_middleware(RequestLog)  # added last: outermost, so the id covers everything the request logs
    for surface in (oxen, ltx, openai, files, health, metrics, webhooks, web):
        app.include_router(surface.router)
    app.mount("/web", web.ASSETS, name="web")
    app.include_router(fal.queue, prefix=settings.fal_queue_path)
    app.include_router(fal.run, prefix=settings.fal_run_path)
    return app


async def _sweep_forever(service: Service) -> None:
    """Delete what has outlived its lifetime now and every `sweep_seconds` (each API instance does;
    deleting twice is harmless)."""
    while True:
        try:
            await asyncio.to_thread(sweep, service.store, service.storage, service.settings)
        except Exception:  # a database or bucket that failed this time; the next sweep tries again
            log.exception("the retention sweep failed")
        await asyncio.sleep(service.settings.sweep_seconds)


class BodyLimit:
    """Refuses bodies over the limit (413) before they are read: multipart and uploads get the upload
    limit, everything else (JSON with data URIs at most) the smaller one. The refusal is raised where
    the route reads the body, so it comes back in the envelope of the route's dialect; a declared
    length over the limit is refused before the first byte is read."""

    def __init__(self, app: ASGIApp, json_limit: int, upload_limit: int) -> None:
        self.app = app
        self.json_limit = json_limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        is_upload = (
            headers.get(b"content-type", b"").startswith(b"multipart/")
            or scope["path"] == "/api/uploads"
            or (scope["method"] == "PUT" and scope["path"].startswith("/files/"))
        )
        limit = self.upload_limit if is_upload else self.json_limit
        too_large = ApiError(413, "request_too_large", f"the body is larger than {limit} bytes", "body")
        declared = headers.get(b"content-length", b"")
        length = whole_number(declared.decode("latin-1"), 2**63 - 1)
        received = length if length is not None and length > limit else 0

        async def counted() -> Message:
            nonlocal received
            if received > limit:
                raise too_large
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise too_large
            return message

        await self.app(scope, counted, send)


class RequestLog:
    """Gives each request an id (the client's `X-Request-ID` when it is a sane one, else a new one),
    under which everything logged while handling it is written, and answers with it (unless the
    route answers its own, as the LTX API's does); then logs one line for the request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        # an id to find log lines by, not a secret: the fast generator (secrets' costs a system call)
        identifier = given if _SANE_ID.fullmatch(given) else f"{random.getrandbits(64):016x}"
        token = logs.request_id.set(identifier)
        started, status = time.perf_counter(), 0

        async def answered(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                if "x-request-id" not in headers:
                    headers["X-Request-ID"] = identifier
            await send(message)

        try:
            await self.app(scope, receive, answered)
        finally:
            seconds = time.perf_counter() - started
            access.info("%s %s %d %.0f ms", scope["method"], scope["path"], status, seconds * 1000)
            route = getattr(scope.get("route"), "path", "unmatched")  # the template: bounded labels
            http_request_seconds.labels(scope["method"], route, str(status)).observe(seconds)
            logs.request_id.reset(token)
