"""The HTTP application: one router per surface over one Service."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ltxserve import __version__
from ltxserve.api import fal, files, health, ltx, openai, oxen, webhooks
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
from ltxserve.settings import Settings
from ltxserve.storage import open_storage


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
        app.state.authenticator = Authenticator(keys)
        fetcher = Fetcher(settings.fetch)
        signer = webhooks.Signer(shared_secret(database, "webhook_signing"))
        senders = {fal.FAL.name: fal.webhook_call}
        app.state.webhooks = sender = WebhookSender(service, WebhookStore(database), signer, fetcher, senders)
        await sender.start()
        try:
            yield
        finally:
            await sender.stop()
            fetcher.close()
            await hub.stop()
            database.dispose()

    app = FastAPI(title="ltxserve", version=__version__, lifespan=lifespan)
    install_error_handlers(app)
    app.add_middleware(BodyLimit, json_limit=settings.max_json_bytes, upload_limit=settings.max_upload_bytes)
    for surface in (oxen, ltx, openai, files, health, webhooks):
        app.include_router(surface.router)
    app.include_router(fal.queue, prefix=settings.fal_queue_path)
    app.include_router(fal.run, prefix=settings.fal_run_path)
    return app


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
