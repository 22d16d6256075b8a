"""Idempotent submission over real HTTP: an `Idempotency-Key` sent again by the same API key (a retry
after a lost answer) is answered with the jobs the first request made, on every surface's submit
routes; other keys, other names, and names older than a day make new jobs."""

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from ltxserve.database import submissions, writing
from ltxserve.keys import KeyLimits
from ltxserve.retention import sweep
from tests.inprocess import Api, api

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


SUBMITS: dict[str, tuple[str, dict[str, Any]]] = {
    "oxen": ("/api/ai/queue", {"model": "ltx-2-3-pro", "prompt": "x", "num_generations": 2}),
    "fal": ("/fal/queue/fal-ai/ltx-2.3/text-to-video", {"prompt": "x"}),
    "ltx": ("/v2/text-to-video", {"prompt": "x", "model": "ltx-2-3-pro", "duration": 6,
                                  "resolution": "1920x1080"}),
    "openai": ("/v1/videos", {"prompt": "x"}),
}  # fmt: skip


def job_ids(surface: str, response: httpx.Response) -> list[str]:
    assert response.status_code in (200, 202), response.text
    body = response.json()
    if surface == "oxen":
        return [generation["generation_id"] for generation in body["generations"]]
    return [body["request_id" if surface == "fal" else "id"]]


async def new_key(served: Api, name: str) -> dict[str, str]:
    keys = served.service.keys
    assert keys is not None
    _, secret = await asyncio.to_thread(keys.create, name, KeyLimits())
    return {"Authorization": f"{'Key' if name.startswith('fal') else 'Bearer'} {secret}"}


def queued(served: Api) -> int:
    keys = served.service.keys
    assert keys is not None
    return sum(len(served.service.store.list_jobs(key.id)) for key in keys.list_keys())


@pytest.mark.parametrize("surface", SUBMITS)
async def test_a_retried_submit_answers_the_jobs_it_made(tmp_path: Path, surface: str) -> None:
    route, body = SUBMITS[surface]
    async with api(tmp_path, over_http=True, auth=True) as served:
        alice, bob = await new_key(served, f"{surface}-alice"), await new_key(served, f"{surface}-bob")

        async def submit(key: dict[str, str], name: str | None) -> list[str]:
            named = {"Idempotency-Key": name} if name is not None else {}
            return job_ids(surface, await served.http.post(route, json=body, headers={**key, **named}))

        first = await submit(alice, "render-42")
        assert await submit(alice, "render-42") == first, "the same jobs, answered again"
        assert len(first) == (2 if surface == "oxen" else 1) and queued(served) == len(first)
        assert await submit(bob, "render-42") != first, "names are each API key's own"
        assert await submit(alice, "render-43") != first
        assert await submit(alice, None) != first, "no name: a new submission each time"
        assert queued(served) == 4 * len(first)


async def test_retries_at_once_make_one_submission(tmp_path: Path) -> None:
    route, body = SUBMITS["fal"]
    async with api(tmp_path, over_http=True) as served:
        answers = await asyncio.gather(
            *(served.http.post(route, json=body, headers={"Idempotency-Key": "burst"}) for _ in range(8))
        )
        assert len({job_ids("fal", answer)[0] for answer in answers}) == 1
        assert len(served.service.store.list_jobs("local")) == 1


@pytest.mark.parametrize("name", ["x" * 256, "has space", "tab\there", "é"])
async def test_an_idempotency_key_that_is_not_a_short_printable_name_is_refused(
    tmp_path: Path, name: str
) -> None:
    async with api(tmp_path, over_http=True) as served:
        for surface, (route, body) in SUBMITS.items():
            refused = await served.http.post(route, json=body, headers={b"Idempotency-Key": name.encode()})
            assert refused.status_code in (400, 422), f"{surface}: {refused.text}"
            assert "Idempotency-Key" in refused.text, surface
        assert served.service.store.list_jobs("local") == [], "nothing queued"
        accepted = await served.http.post(route, json=body, headers={"Idempotency-Key": "x" * 255})
        assert accepted.status_code == 200, "255 printable characters are a name"


async def test_a_name_is_free_again_a_day_after_and_the_sweep_forgets_it(tmp_path: Path) -> None:
    route, body = SUBMITS["openai"]
    async with api(tmp_path, over_http=True) as served:
        store = served.service.store
        first = job_ids(
            "openai", await served.http.post(route, json=body, headers={"Idempotency-Key": "daily"})
        )
        with writing(store.engine) as connection:
            connection.execute(submissions.update().values(created_at=time.time() - 86400 - 1))
        again = job_ids(
            "openai", await served.http.post(route, json=body, headers={"Idempotency-Key": "daily"})
        )
        assert again != first, "a day later the name makes a new submission"
        with writing(store.engine) as connection:
            connection.execute(submissions.update().values(created_at=time.time() - 86400 - 1))
        await asyncio.to_thread(sweep, store, served.service.storage, served.service.settings)
        with writing(store.engine) as connection:
            assert connection.execute(sa.select(sa.func.count()).select_from(submissions)).scalar_one() == 0


async def test_each_surface_has_its_own_names(tmp_path: Path) -> None:
    async with api(tmp_path, over_http=True) as served:
        made = []
        for surface, (route, body) in SUBMITS.items():
            answer = await served.http.post(route, json=body, headers={"Idempotency-Key": "shared"})
            made += job_ids(surface, answer)
        assert len(set(made)) == len(made) == 5, "a name on one surface answers nothing on another"
