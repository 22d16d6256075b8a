"""fal's webhooks (`?fal_webhook=URL`), in-process with a sketching worker and a real HTTP receiver:
delivered on completion (OK with the output, ERROR with the error), signed as fal signs and
verifiable with the served JWKS, refused at submit for a private address, retried with backoff
from rows in the database, so that a restart between two attempts loses nothing."""

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ltxserve.database import open_database, webhooks, writing
from ltxserve.inputs import FetchPolicy
from ltxserve.jobs.webhooks import BACKOFF, WebhookStore
from tests.conftest import ExampleAssets
from tests.httpfiles import FileServer, Posted, Route, file_server
from tests.inprocess import Api, api

pytestmark = pytest.mark.anyio
SEED = "/fal/queue/fal-ai/ltx-2.3-22b/extend-video/lora"
BODY = {"prompt": "x", "video_url": "https://v3b.fal.media/files/b/0a8824b1/sdm0KfmenrlywesfzY1Y1_if6euPp1.mp4",
        "loras": [], "num_frames": 9}  # fmt: skip


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def receiver() -> Iterator[FileServer]:
    with file_server({"/hook": Route(status=200)}) as server:
        yield server


def policy(assets: ExampleAssets) -> FetchPolicy:
    """Inputs from the examples' assets server; webhooks to the receiver on loopback, as allowed."""
    return FetchPolicy.from_allow_list(
        ["127.0.0.1"], connect_to={("v3b.fal.media", 443): ("127.0.0.1", assets.port)}
    )


@pytest.fixture
def settings(
    example_assets: ExampleAssets, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> dict[str, Any]:
    monkeypatch.setenv("SSL_CERT_FILE", str(example_assets.ca_bundle))
    return {"fetch": policy(example_assets), "database": f"sqlite:///{tmp_path / 'ltxserve.db'}"}


async def calls(receiver: FileServer, count: int) -> list[Posted]:
    """Waits (without a deadline of its own: the test's timeout is the bound) for `count` calls."""
    while len(receiver.posts) < count:
        await asyncio.sleep(0.05)
    return receiver.posts[:count]


async def verified(fal: Api, call: Posted) -> dict[str, Any]:
    """The call's body, once its signature checks out against the served keys, as fal's docs verify."""
    keys = (await fal.http.get("/.well-known/jwks.json")).json()["keys"]
    headers = call.headers
    timestamp = int(headers["x-fal-webhook-timestamp"])
    assert abs(time.time() - timestamp) < 300
    signed = [headers["x-fal-webhook-request-id"], headers["x-fal-webhook-user-id"], str(timestamp)]
    message = "\n".join([*signed, hashlib.sha256(call.body).hexdigest()])
    (key,) = keys
    public = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(key["x"] + "=="))
    public.verify(bytes.fromhex(headers["x-fal-webhook-signature"]), message.encode())
    body: dict[str, Any] = json.loads(call.body)
    return body


async def test_a_webhook_is_called_with_the_output_and_signed(
    tmp_path: Path, settings: dict[str, Any], receiver: FileServer
) -> None:
    async with api(tmp_path, worker=True, **settings) as fal:
        hook = receiver.url("/hook")
        submitted = await fal.http.post(SEED, params={"fal_webhook": hook}, json=BODY)
        assert submitted.status_code == 200, submitted.text
        request_id = submitted.json()["request_id"]
        assert submitted.json()["gateway_request_id"] == request_id
        (call,) = await calls(receiver, 1)
        body = await verified(fal, call)
        assert body["request_id"] == body["gateway_request_id"] == request_id and body["status"] == "OK"
        assert body["payload"]["video"]["num_frames"] == 96 + 9 and body["payload"]["prompt"].startswith("x ")
        assert call.headers["x-fal-webhook-request-id"] == request_id
        assert call.headers["x-fal-webhook-user-id"] == "local"
        # the sender records the delivery once the receiver has answered: after the call arrives here
        store = WebhookStore(open_database(settings["database"]))
        while (stored := await asyncio.to_thread(store.of, [request_id]))[request_id]["delivered_at"] is None:
            await asyncio.sleep(0.05)
        assert stored[request_id]["attempts"] == 1


async def test_a_failed_request_calls_back_with_error(
    tmp_path: Path, settings: dict[str, Any], receiver: FileServer
) -> None:
    async with api(tmp_path, worker=True, **settings) as fal:
        failing = {**BODY, "num_context_frames": 0}  # the planner needs at least one frame of context
        submitted = await fal.http.post(SEED, params={"fal_webhook": receiver.url("/hook")}, json=failing)
        assert submitted.status_code == 200, submitted.text
        (call,) = await calls(receiver, 1)
        body = await verified(fal, call)
        assert body["status"] == "ERROR" and body["error"] == "Invalid status code: 422"
        (problem,) = body["payload"]["detail"]
        assert problem["loc"] == ["body", "num_context_frames"] and "context" in problem["msg"]


async def test_a_private_webhook_address_is_refused_at_submit(tmp_path: Path) -> None:
    async with api(tmp_path) as fal:
        refused = await fal.http.post(SEED, params={"fal_webhook": "http://10.1.2.3/hook"}, json=BODY)
        assert refused.status_code == 422
        (problem,) = refused.json()["detail"]
        assert problem["loc"] == ["query", "fal_webhook"] and "private" in problem["msg"]


async def test_a_failed_call_is_retried_from_the_database_after_a_restart(
    tmp_path: Path, settings: dict[str, Any], receiver: FileServer
) -> None:
    receiver.routes["/hook"].status = 503
    async with api(tmp_path, worker=True, **settings) as fal:
        submitted = await fal.http.post(SEED, params={"fal_webhook": receiver.url("/hook")}, json=BODY)
        request_id = submitted.json()["request_id"]
        await calls(receiver, 1)
        database = open_database(settings["database"])
        while (await asyncio.to_thread(WebhookStore(database).of, [request_id]))[request_id]["attempts"] < 1:
            await asyncio.sleep(0.05)
    row = WebhookStore(database).of([request_id])[request_id]
    assert row["delivered_at"] is None and row["last_error"] == "HTTP 503"
    assert row["next_at"] == pytest.approx(time.time() + BACKOFF[0], abs=5), "the first backoff"
    receiver.routes["/hook"].status = 200
    with writing(database) as connection:  # the backoff has passed while the server was down
        connection.execute(sa.update(webhooks).values(next_at=time.time()))
    async with api(tmp_path, **settings) as fal:
        second = (await calls(receiver, 2))[1]
        assert (await verified(fal, second))["request_id"] == request_id
        while WebhookStore(database).of([request_id])[request_id]["delivered_at"] is None:
            await asyncio.sleep(0.05)
    assert WebhookStore(database).of([request_id])[request_id]["attempts"] == 2


def test_a_webhook_is_given_up_after_the_last_retry(tmp_path: Path) -> None:
    from ltxserve.jobs.webhooks import Webhook

    database = open_database(f"sqlite:///{tmp_path / 'ltxserve.db'}")
    store = WebhookStore(database)
    with writing(database) as connection:
        row = {"job_id": "j", "owner": "o", "surface": "fal", "url": "http://a/h", "base_url": "http://b/"}
        connection.execute(webhooks.insert().values(**row, next_at=0, created_at=0))
    hook = Webhook("j", "o", "fal", "http://a/h", "http://b/", len(BACKOFF) - 1)
    assert store.failed(hook, "HTTP 500"), "the last retry is still ahead"
    hook = Webhook("j", "o", "fal", "http://a/h", "http://b/", len(BACKOFF))
    assert not store.failed(hook, "HTTP 500")
    given_up = store.of(["j"])["j"]
    assert given_up["abandoned_at"] is not None and given_up["attempts"] == len(BACKOFF) + 1
