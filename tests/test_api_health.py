"""/health/live answers while the process does; /health/ready only while the database and storage
answer and a worker is up (seen waiting within a lease, or holding a live one), else 503 saying what
is missing. Over real HTTP, with a real Worker thread where one is up."""

import asyncio
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from ltxserve.api import health
from ltxserve.database import workers, writing
from tests.inprocess import api

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_ready_needs_a_worker_and_live_does_not(tmp_path: Path) -> None:
    async with api(tmp_path, over_http=True) as served:
        assert (await served.http.get("/health/live")).json() == {"status": "live"}
        alone = await served.http.get("/health/ready")
        assert alone.status_code == 503
        assert alone.json()["checks"] == {
            "database": "ok", "storage": "ok", "workers": "no worker seen in the last 60 s"
        }  # fmt: skip
        store = served.service.store
        await asyncio.to_thread(store.worker_seen, "host:1:a")
        ready = await served.http.get("/health/ready")
        assert ready.status_code == 200 and ready.json()["status"] == "ready" and ready.json()["workers"] == 1
        with writing(store.engine) as connection:  # last seen two leases ago: it is gone
            connection.execute(sa.update(workers).values(seen_at=time.time() - 120))
        assert (await served.http.get("/health/ready")).status_code == 503
        await asyncio.to_thread(store.worker_seen, "host:1:a")
        await asyncio.to_thread(store.worker_stopped, "host:1:a")
        assert (await served.http.get("/health/ready")).status_code == 503, "a stopped worker is not up"


async def test_a_real_worker_is_up_while_it_runs(tmp_path: Path) -> None:
    async with api(tmp_path, over_http=True, worker=True) as served:
        while (ready := await served.http.get("/health/ready")).status_code != 200:
            await asyncio.sleep(0.02)  # the worker says it is up on its first look at the queue
        assert ready.json()["workers"] == 1
    with served.service.store.engine.connect() as connection:
        assert connection.execute(sa.select(workers)).all() == [], "a worker that stops says so"


async def test_a_database_that_fails_is_not_ready_and_says_why(tmp_path: Path) -> None:
    async with api(tmp_path, over_http=True) as served:
        with writing(served.service.store.engine) as connection:
            connection.execute(sa.text("DROP TABLE workers"))
        answer = await served.http.get("/health/ready")
        assert answer.status_code == 503
        checks = answer.json()["checks"]
        assert "no such table: workers" in checks["database"] and checks["workers"].startswith("unknown")
        assert (await served.http.get("/health/live")).status_code == 200


async def test_storage_that_does_not_answer_is_not_ready_within_a_bounded_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "CHECK_SECONDS", 0.2)
    async with api(tmp_path, over_http=True) as served:
        await asyncio.to_thread(served.service.store.worker_seen, "host:1:a")
        monkeypatch.setattr(served.service.storage, "size", lambda key: time.sleep(2))  # a bucket retrying
        answer = await served.http.get("/health/ready")
        assert answer.status_code == 503 and answer.json()["checks"]["storage"] == "no answer within 0.2 s"
