"""Per-key limits over real HTTP: requests per minute (the server's default, or the key's own), counted
in the database so that every API instance sees one count, answered 429 with Retry-After in each
surface's envelope; and the jobs a key may have unfinished."""

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from ltxserve.keys import KeyLimits
from tests.inprocess import Api, api

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


ROUTES = {
    "oxen": "/api/ai/queue",
    "fal": "/fal/queue/fal-ai/ltx-2.3/requests/nope/status",
    "ltx": "/v2/retake/nope",
    "openai": "/v1/videos",
    "plain": "/api/uploads",
}
"""A read on each surface (its answer when under the limit does not matter: only that it is not 429)."""


async def within_one_minute() -> None:
    """Start in a minute with time to spare: the count is per minute, and a test must not straddle two."""
    if time.time() % 60 > 45:
        await asyncio.sleep(60 - time.time() % 60)


async def new_key(served: Api, name: str, **limits: int) -> dict[str, Any]:
    keys = served.service.keys
    assert keys is not None
    _, secret = await asyncio.to_thread(keys.create, name, KeyLimits(**limits))
    return {"Authorization": f"Bearer {secret}"}


def refused_in_envelope(surface: str, response: httpx.Response) -> str:
    assert response.status_code == 429, response.text
    wait = int(response.headers["Retry-After"])
    assert 1 <= wait <= 60
    body = response.json()
    if surface in ("oxen", "ltx"):
        return str(body["error"]["type"])
    if surface == "plain":
        return str(body["error"]["code"])
    message = body["detail"] if surface == "fal" else body["error"]["message"]
    assert "requests a minute" in message
    return "rate_limited" if surface == "fal" else str(body["error"]["type"])


@pytest.mark.parametrize("surface", ROUTES)
async def test_a_key_over_its_requests_per_minute_gets_429_with_retry_after(
    tmp_path: Path, surface: str
) -> None:
    async with api(tmp_path, over_http=True, auth=True, requests_per_minute_per_key=5) as served:
        headers = await new_key(served, "busy")
        await within_one_minute()
        answers = [await served.http.get(ROUTES[surface], headers=headers) for _ in range(6)]
        assert all(answer.status_code != 429 for answer in answers[:5]), "the limit is exact"
        kind = refused_in_envelope(surface, answers[5])
        assert kind in ({"ltx": "rate_limit_error"}.get(surface, "rate_limited"), "rate_limit_exceeded")
        other = await new_key(served, "quiet")
        assert (await served.http.get(ROUTES[surface], headers=other)).status_code != 429, "keys count apart"


async def test_a_keys_own_rate_overrides_the_servers_and_the_count_is_shared_by_api_instances(
    tmp_path: Path,
) -> None:
    async with (
        api(tmp_path, over_http=True, auth=True, requests_per_minute_per_key=100) as first,
        api(tmp_path, over_http=True, auth=True, requests_per_minute_per_key=100) as second,
    ):
        headers = await new_key(first, "slow", requests_per_minute=4)
        await within_one_minute()
        for served in (first, second, first, second):
            assert (await served.http.get("/api/ai/queue", headers=headers)).status_code == 200
        for served in (first, second):
            refused = await served.http.get("/api/ai/queue", headers=headers)
            assert refused.status_code == 429 and "4 requests a minute" in refused.text


async def test_a_keys_own_limit_of_unfinished_jobs(tmp_path: Path) -> None:
    async with api(tmp_path, over_http=True, auth=True) as served:
        headers = await new_key(served, "small", max_unfinished=1)
        body = {"model": "ltx-2-3-pro", "prompt": "x"}
        assert (await served.http.post("/api/ai/queue", json=body, headers=headers)).status_code == 200
        refused = await served.http.post("/api/ai/queue", json=body, headers=headers)
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "30"
        assert refused.json()["error"]["type"] == "quota_exceeded"


DAILY = {
    "oxen": ("/api/ai/queue", {"model": "ltx-2-3-pro", "prompt": "x", "duration": 6}, 200),
    "ltx": ("/v2/text-to-video", {"prompt": "x", "model": "ltx-2-3-pro", "duration": 6,
                                  "resolution": "1920x1080"}, 202),
}  # fmt: skip


@pytest.mark.parametrize("surface", DAILY)
async def test_a_keys_seconds_of_video_a_day_own_or_the_servers(tmp_path: Path, surface: str) -> None:
    route, body, accepted = DAILY[surface]
    async with api(tmp_path, over_http=True, auth=True, seconds_per_day_per_key=12) as served:
        own = await new_key(served, "own", seconds_per_day=6)
        default = await new_key(served, "default")
        answers = [await served.http.post(route, json=body, headers=own) for _ in range(2)]
        answers += [await served.http.post(route, json=body, headers=default) for _ in range(3)]
        assert [answer.status_code for answer in answers] == [accepted, 429, accepted, accepted, 429]
        for refused in (answers[1], answers[4]):
            assert 0 < int(refused.headers["Retry-After"]) <= 86400, "until the day (UTC) ends"
            error = refused.json()["error"]
            assert error["type"] == {"oxen": "daily_limit_exceeded", "ltx": "rate_limit_error"}[surface]
            assert "s a day" in error.get("message", error.get("title"))
        keys = served.service.keys
        assert keys is not None
        queued = {key.name: len(served.service.store.list_jobs(key.id)) for key in keys.list_keys()}
        assert queued == {"own": 1, "default": 2}, "nothing queued for the refused"
