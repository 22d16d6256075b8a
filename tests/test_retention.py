"""Retention: a result's file is deleted `file_lifetime` after its job ended and an upload as long
after it was made, unless a queued or running job will still read it; a job's record goes
`job_lifetime` after it ended. From local storage and from an S3 bucket (moto) alike; an expired
result is answered as expired, not as missing or as a 500."""

import asyncio
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ltxserve.api.auth import LOCAL_OWNER
from ltxserve.database import JobState
from ltxserve.retention import Swept, sweep
from tests.inprocess import Api, api
from tests.servers import S3Server

pytestmark = pytest.mark.anyio
HOUR = 3600


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["local", "s3"])
def storage(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> dict[str, Any]:
    if request.param == "local":
        return {}
    s3: S3Server = request.getfixturevalue("s3")
    for name, value in s3.environment.items():
        monkeypatch.setenv(name, value)
    return {"storage": f"s3://{s3.new_bucket()}?endpoint={s3.endpoint}"}


async def swept_at(served: Api, hours: float) -> Swept:
    service = served.service
    return await asyncio.to_thread(
        sweep, service.store, service.storage, service.settings, time.time() + hours * HOUR
    )


async def test_files_and_records_are_deleted_when_they_outlive_their_lifetimes(
    tmp_path: Path, storage: dict[str, Any]
) -> None:
    async with api(tmp_path, worker=True, **storage) as served:
        made = await served.http.post("/v1/videos", json={"prompt": "x", "seconds": "2", "size": "320x180"})
        video = made.json()["id"]
        while (await served.http.get(f"/v1/videos/{video}")).json()["status"] != "completed":
            await asyncio.sleep(0.05)
    async with api(tmp_path, job_lifetime=timedelta(days=30), **storage) as served:  # no worker: jobs wait
        store, files = served.service.store, served.service.storage
        old, needed = [(await served.http.post("/api/uploads", content=b"x" * 10)).json() for _ in range(2)]
        body = {
            "model": "ltx-2-3-pro-retake",
            "prompt": "x",
            "input_video": needed["uri"],
            "retake_start_time": 1,
        }
        waiting = (await served.http.post("/api/ai/queue", json=body)).json()["generations"][0][
            "generation_id"
        ]
        shown = (await served.http.get(f"/v1/videos/{video}")).json()
        assert shown["expires_at"] == shown["completed_at"] + 24 * HOUR
        result = await asyncio.to_thread(store.get, video)
        assert result is not None and result.result is not None
        key = result.result["key"]

        assert await swept_at(served, 23) == Swept(results=0, jobs=0, uploads=0), "nothing is due yet"
        assert await swept_at(served, 25) == Swept(results=1, jobs=0, uploads=1)
        assert await asyncio.to_thread(files.size, key) is None, "the result's file is deleted"
        assert await asyncio.to_thread(files.size, f"uploads/{LOCAL_OWNER}/{old['id']}") is None
        kept = await asyncio.to_thread(files.size, f"uploads/{LOCAL_OWNER}/{needed['id']}")
        assert kept == 10, "an upload a queued job will read is kept"
        content = await served.http.get(f"/v1/videos/{video}/content")
        assert content.status_code == 404 and content.json()["error"]["code"] == "video_expired"
        assert "expired at" in content.json()["error"]["message"]
        assert (await served.http.get(f"/api/ai/queue/{video}")).json()["result_url"] is None

        await asyncio.to_thread(store.cancel, waiting, LOCAL_OWNER)
        assert await swept_at(served, 31 * 24) == Swept(results=0, jobs=2, uploads=1)
        assert (await served.http.get(f"/v1/videos/{video}")).status_code == 404, "its record is gone too"
        assert not await asyncio.to_thread(store.list_jobs, LOCAL_OWNER, states=list(JobState))
        assert await asyncio.to_thread(files.listing, "") == [], "nothing is left in storage"
