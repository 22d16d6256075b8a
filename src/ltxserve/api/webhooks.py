"""Webhooks sent: when a job that asked for one ends, its surface renders the call (fal: the request's
id, OK or ERROR, the output), this module signs it and POSTs it through the same guard as input
fetches (public addresses only, unless the operator allowed more), and records the outcome in the
database: delivered, or retried with backoff, or given up (`jobs.webhooks`).

Calls are signed with Ed25519 the way fal signs its own: the signature covers the request id, the
owner, a timestamp and the SHA-256 of the body; the public key is served at
`/.well-known/jwks.json` for receivers to verify with. The key is made once per database, so every
API process signs with it.
"""

import asyncio
import base64
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import Request

from ltxserve import metrics
from ltxserve.api.dialect import PLAIN
from ltxserve.api.service import Service
from ltxserve.api.views import JobView
from ltxserve.database import JobState
from ltxserve.inputs import Fetcher, FetchError
from ltxserve.jobs.events import SubscriberOverflowError
from ltxserve.jobs.webhooks import Webhook, WebhookStore

log = logging.getLogger("ltxserve.webhooks")

WAKE_SECONDS = 5.0
"""How often a sender looks for retries that have come due (it wakes at once when a job ends)."""

router = PLAIN.router()


class Signer:
    """Ed25519 signatures over `request_id \\n user_id \\n timestamp \\n sha256(body)`."""

    def __init__(self, seed: bytes) -> None:
        self._key = Ed25519PrivateKey.from_private_bytes(seed[:32])
        self.public_key = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = hashlib.sha256(self.public_key).hexdigest()[:16]

    def sign(self, request_id: str, user_id: str, timestamp: int, body: bytes) -> str:
        message = "\n".join([request_id, user_id, str(timestamp), hashlib.sha256(body).hexdigest()])
        return self._key.sign(message.encode()).hex()

    def jwks(self) -> dict[str, Any]:
        x = base64.urlsafe_b64encode(self.public_key).rstrip(b"=").decode()
        return {
            "keys": [
                {"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": self.key_id, "x": x}
            ]
        }


@dataclass(frozen=True)
class Call:
    """One webhook call as its surface renders it."""

    body: bytes
    headers: Mapping[str, str]


Render = Callable[[Service, JobView, Signer], Awaitable[Call]]
"""How a surface calls back about one of its jobs."""


class WebhookSender:
    """Sends due webhooks while the API runs: woken when a job ends, and every few seconds for
    retries. Any number of API processes may run one; each webhook is sent by one at a time."""

    def __init__(
        self,
        service: Service,
        store: WebhookStore,
        signer: Signer,
        fetcher: Fetcher,
        renders: Mapping[str, Render],
    ) -> None:
        self.service = service
        self.store = store
        self.signer = signer
        self.fetcher = fetcher
        self.renders = renders
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            # subscribed before looking, so that a job ending meanwhile wakes the wait below
            with self.service.hub.subscribe(None) as subscription:
                try:
                    await self.send_due()
                except Exception:
                    log.exception("sending webhooks failed; trying again")
                with contextlib.suppress(TimeoutError, SubscriberOverflowError):
                    async with asyncio.timeout(WAKE_SECONDS):
                        while (await subscription.next()).type not in _ENDED:
                            pass

    async def send_due(self) -> int:
        """Send every webhook that is due now; how many were tried."""
        hooks = await asyncio.to_thread(self.store.take)
        for hook in hooks:
            await self._send(hook)
        return len(hooks)

    async def _send(self, hook: Webhook) -> None:
        view = await self.service.get(hook.owner, hook.job_id, hook.base_url)
        render = self.renders.get(hook.surface)
        if view is None or render is None:
            await asyncio.to_thread(self.store.failed, hook, "the job or its surface is gone", final=True)
            return
        call = await render(self.service, view, self.signer)
        headers = {"Content-Type": "application/json", "User-Agent": "ltxserve", **call.headers}
        try:
            status = await asyncio.to_thread(self.fetcher.post, hook.url, call.body, headers)
            error = None if 200 <= status < 300 else f"HTTP {status}"
        except FetchError as failure:
            error = str(failure)
        if error is None:
            await asyncio.to_thread(self.store.delivered, hook.job_id)
            metrics.webhooks.labels("delivered").inc()
            log.info("job %s: webhook delivered", hook.job_id)
        elif await asyncio.to_thread(self.store.failed, hook, error):
            metrics.webhooks.labels("retried").inc()
            log.warning("job %s: webhook failed (%s); will retry", hook.job_id, error)
        else:
            metrics.webhooks.labels("abandoned").inc()
            log.error(
                "job %s: webhook failed (%s); given up after %d attempts",
                hook.job_id,
                error,
                hook.attempts + 1,
            )


_ENDED = frozenset(state.value for state in JobState if state.terminal)


@router.get("/.well-known/jwks.json")
async def jwks(request: Request) -> dict[str, Any]:
    """The public keys webhook calls are signed with."""
    sender: WebhookSender = request.app.state.webhooks
    return sender.signer.jwks()
