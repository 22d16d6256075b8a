"""Every surface sees the jobs of every other: a job records the surface that made it, and the Oxen
surface lists it, shows its progress and its failure, and streams its events without error. In-process."""

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ltxserve.api import oxen
from ltxserve.api.auth import LOCAL_OWNER
from ltxserve.database import JobState
from ltxserve.engine.progress import Progress
from tests.inprocess import Api, api

pytestmark = pytest.mark.anyio
FAL_PRODUCT = "fal-ai/ltx-2.3-22b/extend-video/lora"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def local(tmp_path: Path) -> AsyncIterator[Api]:
    async with api(tmp_path) as running:
        yield running


async def foreign_jobs(local: Api) -> tuple[str, str]:
    """A fal job that failed on its source video, and one running at 40 %."""
    store = local.service.store
    params = {"video_url": "https://example.com/a.mp4", "num_frames": 121}
    failed, running = await asyncio.to_thread(
        store.enqueue, LOCAL_OWNER, "fal", FAL_PRODUCT, {}, params, count=2
    )
    for job_id, worker in ((failed, "w1"), (running, "w2")):
        claimed = await asyncio.to_thread(store.claim, worker, 60)
        assert claimed is not None and claimed.id == job_id
    message = "the video has 40 frames; at least 73"
    error = {"message": message, "field": "extend.video", "code": "invalid_input"}
    assert await asyncio.to_thread(store.finish, failed, "w1", JobState.FAILED, error=error)
    assert not await asyncio.to_thread(store.progress, running, "w2", Progress("denoising", 3, 8, 0.4), 60)
    return failed, running


async def test_oxen_lists_a_job_another_surface_made(local: Api) -> None:
    failed, running = await foreign_jobs(local)
    listed = await local.http.get("/api/ai/queue", params={"status": "failed,processing"})
    assert listed.status_code == 200
    items = {item["generation_id"]: item for item in listed.json()["generations"]}
    assert items[failed]["model"] == FAL_PRODUCT and items[failed]["status"] == "failed"
    assert items[failed]["error_message"] == "extend.video: the video has 40 frames; at least 73"
    assert items[failed]["video_url"] == "https://example.com/a.mp4"
    assert items[running]["progress"] == {"stage": "denoising", "step": 3, "total": 8, "percent": 40}
    one = await local.http.get(f"/api/ai/queue/{running}")
    assert one.status_code == 200 and one.json()["status"] == "processing"


async def test_oxen_streams_the_events_of_a_job_another_surface_made(local: Api) -> None:
    failed, running = await foreign_jobs(local)
    events = await asyncio.to_thread(local.service.store.events_after, 0)
    assert {event.surface for event in events} == {"fal"}
    rendered = [oxen._event(event, local.service, "http://ltxserve.test/") for event in events]
    payloads = [json.loads(event.data) for event in rendered if event.data]
    ended = [p for p in payloads if p["generation_id"] == failed and p["status"] == "failed"]
    assert ended and ended[0]["error"] == "extend.video: the video has 40 frames; at least 73"
    progress = [p for p in payloads if p["generation_id"] == running and "progress" in p]
    assert progress and progress[-1]["progress"] == 40


async def test_an_oxen_job_reports_its_failure_by_its_own_parameter_names(local: Api) -> None:
    submitted = await local.http.post(
        "/api/ai/queue",
        json={"model": "ltx-2-3-pro-retake", "input_video": "https://example.com/a.mp4", "prompt": "x"},
    )
    assert submitted.status_code == 200
    (generation,) = submitted.json()["generations"]
    store = local.service.store
    claimed = await asyncio.to_thread(store.claim, "w", 60)
    assert claimed is not None and claimed.surface == "oxen"
    error = {"message": "too short", "field": "retake.video", "code": "invalid_input"}
    assert await asyncio.to_thread(store.finish, claimed.id, "w", JobState.FAILED, error=error)
    item = (await local.http.get(f"/api/ai/queue/{generation['generation_id']}")).json()
    assert item["error_message"] == "input_video: too short"


async def test_oxen_pages_its_list_with_a_cursor(local: Api) -> None:
    body = {"model": "ltx-2-3-pro", "prompt": "x", "num_generations": 3}
    ids = [
        item["generation_id"]
        for item in (await local.http.post("/api/ai/queue", json=body)).json()["generations"]
    ]
    first = (await local.http.get("/api/ai/queue", params={"limit": 2})).json()
    assert [item["generation_id"] for item in first["generations"]] == ids[::-1][:2] and first["has_more"]
    last = ids[1]
    rest = (await local.http.get("/api/ai/queue", params={"limit": 2, "before": last})).json()
    assert [item["generation_id"] for item in rest["generations"]] == [ids[0]] and not rest["has_more"]


SYNC_ROUTES = {
    "oxen": ("/api/ai/videos/generate", {"model": "ltx-2-3-pro", "prompt": "x"}),
    "fal": ("/fal/run/fal-ai/ltx-2.3/text-to-video", {"prompt": "x"}),
    "ltx": ("/v1/text-to-video", {"prompt": "x", "model": "ltx-2-3-fast", "duration": 6,
                                  "resolution": "1920x1080"}),
}  # fmt: skip


@pytest.mark.parametrize("surface", SYNC_ROUTES)
async def test_a_sync_request_whose_client_goes_away_cancels_its_job(tmp_path: Path, surface: str) -> None:
    route, body = SYNC_ROUTES[surface]
    async with api(tmp_path, over_http=True) as served:
        url = served.http.base_url
        _, writer = await asyncio.open_connection(url.host, url.port)
        data = json.dumps(body).encode()
        writer.write(
            f"POST {route} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n".encode()
            + data
        )
        await writer.drain()
        store = served.service.store
        while not (jobs := await asyncio.to_thread(store.list_jobs, LOCAL_OWNER)):
            await asyncio.sleep(0.02)  # queued; the request now waits for the video
        assert jobs[0].state is JobState.QUEUED
        writer.close()
        await writer.wait_closed()
        while (job := await asyncio.to_thread(store.get, jobs[0].id)) and job.state is JobState.QUEUED:
            await asyncio.sleep(0.02)
        assert job is not None and job.state is JobState.CANCELLED, "no one will read it: it is not made"
