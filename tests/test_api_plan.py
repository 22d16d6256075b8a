"""POST /api/ai/plan (ltxserve's own, on the Oxen surface): what a generation would decide once its
inputs are read, without queueing it; the same decisions its job then makes."""

import asyncio
from pathlib import Path

import pytest

from ltxserve.api.auth import LOCAL_OWNER
from tests.inprocess import api

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_plan_is_what_the_job_then_decides_and_queues_nothing(tmp_path: Path, clip: Path) -> None:
    async with api(tmp_path, worker=True) as served:
        video = (await served.http.post("/api/uploads", content=clip.read_bytes())).json()["uri"]
        body = {"model": "ltx-2-3-pro-retake", "input_video": video, "prompt": "rain",
                "retake_start_time": 1.5, "retake_duration": 2}  # fmt: skip
        answer = await served.http.post("/api/ai/plan", json=body)
        assert answer.status_code == 200, answer.text
        plan = answer.json()["plan"]
        assert await asyncio.to_thread(served.service.store.list_jobs, LOCAL_OWNER) == [], "nothing queued"
        start, stop = plan["video_window_frames"]
        assert (start - 1) % 8 == 0 and (stop - 1) % 8 == 0 and start <= 36 and stop >= 84, "latent frames"
        assert plan["video_window_seconds"] == [start / 24, stop / 24]
        first, last = plan["audio_window_seconds"]
        assert 1.5 - 0.04 < first <= 1.5 and 3.5 <= last < 3.5 + 0.04, "40 ms audio frames around it"

        (job,) = (await served.http.post("/api/ai/queue", json=body)).json()["generations"]
        status = f"/api/ai/queue/{job['generation_id']}"
        while (done := (await served.http.get(status)).json())["status"] not in ("succeeded", "failed"):
            await asyncio.sleep(0.05)
        assert done["output"]["notes"]["video_window_frames"] == plan["video_window_frames"]

        extend = {"model": "ltx-2-3-pro-extend-video", "input_video": video, "duration": 2, "mode": "start"}
        planned = (await served.http.post("/api/ai/plan", json=extend)).json()["plan"]
        assert (planned["new_frames"], planned["edge"]) == (48, "start") and planned["context_frames"] > 0


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"retake_start_time": 3.9}, "retake_duration", "after the video's end"),
        ({"input_video": "https://example.com/a.mp4"}, "input_video", "uploads (upload://) only"),
        ({"input_video": "upload://0123456789abcdef0123456789abcdef"}, "input_video", "no upload"),
        ({"retake_duration": 1}, "retake_duration", "greater than or equal to 2"),
    ],
)
async def test_a_plan_refuses_what_a_submission_or_its_job_would(
    tmp_path: Path, clip: Path, change: dict[str, object], field: str, message: str
) -> None:
    async with api(tmp_path) as served:
        video = (await served.http.post("/api/uploads", content=clip.read_bytes())).json()["uri"]
        body = {"model": "ltx-2-3-pro-retake", "input_video": video, "prompt": "rain", **change}
        answer = await served.http.post("/api/ai/plan", json=body)
        assert answer.status_code == 400
        error = answer.json()["error"]
        assert error["field"] == field and message in error["detail"], error


async def test_the_fal_call_a_plan_offers_makes_the_same_request(tmp_path: Path, clip: Path) -> None:
    async with api(tmp_path) as served:
        video = (await served.http.post("/api/uploads", content=clip.read_bytes())).json()["uri"]
        bodies = [
            {"model": "ltx-2-3-pro-retake", "input_video": video, "prompt": "rain", "retake_start_time": 1},
            {"model": "ltx-2-3-pro-extend-video", "input_video": video, "duration": 3, "mode": "start"},
            {"model": "ltx-2-3-fast", "prompt": "a cat", "duration": 12, "seed": 5},
        ]
        for body in bodies:
            fal = (await served.http.post("/api/ai/plan", json=body)).json()["fal"]
            assert fal is not None, body["model"]
            oxen = (await served.http.post("/api/ai/queue", json=body)).json()["generations"][0][
                "generation_id"
            ]
            queued = await served.http.post(f"/fal/queue/{fal['endpoint']}", json=fal["arguments"])
            assert queued.status_code == 200, queued.text
            made = [await asyncio.to_thread(served.service.store.get, job_id)
                    for job_id in (oxen, queued.json()["request_id"])]  # fmt: skip
            assert made[0] is not None and made[1] is not None
            assert made[0].request == made[1].request, body["model"]
        camera = {"model": "ltx-2-3-pro", "prompt": "a cat", "camera_motion": "dolly_in"}
        assert (await served.http.post("/api/ai/plan", json=camera)).json()["fal"] is None, (
            "fal has no camera"
        )
