"""The request bodies of Oxen's documentation examples (specs/oxen-*), sent as the docs send them,
in each of the docs' three ways: sync, async with polling, async with the event stream (read the
way the docs' awk script reads it). Their URLs name hub.oxen.ai; the test server answers for it
(`--connect-to`, with a certificate the server's trust store accepts)."""

import json
from pathlib import Path

import httpx
import pytest

from ltxserve import media
from ltxserve.engine.planning import GenerationPlan, plan_request
from ltxserve.request import request_from_json
from tests.conftest import Running
from tests.inprocess import api
from tests.service import Client, events, until_subscribed

IMAGE = "https://hub.oxen.ai/api/repos/elau/assets/file/main/bloxy/bloxy_cropped_512x512.png"
VIDEO = "https://hub.oxen.ai/api/repos/ox/Oxen-AI-Assets/file/main/images/winter_summer_ox.mp4"

PRO_MINIMAL = """{
"model": "ltx-2-3-pro",
"prompt": "<prompt>"
}"""
PRO_BASIC = f"""{{
"model": "ltx-2-3-pro",
"prompt": "<prompt>",
"input_image": "{IMAGE}",
"last_frame_image": "{IMAGE}"
}}"""
PRO_ALL = f"""{{
"model": "ltx-2-3-pro",
"prompt": "<prompt>",
"input_image": "{IMAGE}",
"last_frame_image": "{IMAGE}",
"task": "image_to_video",
"resolution": "1080p",
"duration": 6,
"aspect_ratio": "16:9",
"fps": 25,
"camera_motion": "none",
"generate_audio": true
}}"""
EXTEND_MINIMAL = f"""{{
  "model": "ltx-2-3-pro-extend-video",
  "input_video": "{VIDEO}"
}}"""
EXTEND_BASIC = f"""{{
  "model": "ltx-2-3-pro-extend-video",
  "input_video": "{VIDEO}",
  "prompt": "<prompt>"
}}"""
EXTEND_ALL = f"""{{
  "model": "ltx-2-3-pro-extend-video",
  "input_video": "{VIDEO}",
  "prompt": "<prompt>",
  "duration": 5,
  "mode": "end"
}}"""
RETAKE_MINIMAL = f"""{{
"model": "ltx-2-3-pro-retake",
"prompt": "<prompt>",
"input_video": "{VIDEO}"
}}"""
RETAKE_ALL = f"""{{
"model": "ltx-2-3-pro-retake",
"prompt": "<prompt>",
"input_video": "{VIDEO}",
"task": "retake",
"retake_start_time": 0,
"retake_duration": 2,
"retake_mode": "replace_audio_and_video"
}}"""

PRO_SHAPE = (1920, 1080, 150)
"""6 s at 25 fps, 1080p 16:9: the model's defaults."""
EXTENDED_SHAPE = (128, 72, 73 + 120)
"""The 73-frame source and 5 s more at its 24 fps."""
RETAKEN_SHAPE = (128, 72, 73)

FULL_SIZE = [PRO_MINIMAL, PRO_BASIC, PRO_ALL]
"""1080p × 6 s each: all three are checked as far as the plan the engine would run; the fullest is
run once, on one backend (the suite's time). The small ones run on both."""
FLOWS = [
    ("async", EXTEND_MINIMAL, EXTENDED_SHAPE),
    ("sse", EXTEND_BASIC, EXTENDED_SHAPE),
    ("sync", EXTEND_ALL, EXTENDED_SHAPE),
    ("sse", RETAKE_MINIMAL, RETAKEN_SHAPE),
    ("async", RETAKE_MINIMAL, RETAKEN_SHAPE),
    ("sync", RETAKE_ALL, RETAKEN_SHAPE),
]
HEADERS = {"Content-Type": "application/json"}


def enqueue(client: Client, body: str) -> str:
    """POST /api/ai/queue, then `jq -r '.generations[0].generation_id'`."""
    response = client.post("/api/ai/queue", content=body, headers=HEADERS)
    assert response.status_code == 200, response.text
    return str(response.json()["generations"][0]["generation_id"])


def sync(client: Client, body: str) -> str:
    response = client.post("/api/ai/videos/generate", content=body, headers=HEADERS)
    assert response.status_code == 200, response.text
    return str(response.json()["videos"][0]["url"])


def poll(client: Client, body: str) -> str:
    item = client.wait(enqueue(client, body))
    assert item["status"] == "succeeded", item
    return str(item["result_url"])


def stream(client: Client, body: str) -> str:
    """The docs' awk: the data line after `event: media_generation_completed` whose payload holds
    "generation_id":"<id>" verbatim."""
    with events(client) as lines:
        until_subscribed(lines)
        generation_id = enqueue(client, body)
        for _, name, data in lines:
            if name == "media_generation_completed" and f'"generation_id":"{generation_id}"' in data:
                payload = json.loads(data)
                assert payload["status"] == "succeeded", payload
                return str(payload["url"])
    raise AssertionError("the stream ended without the completion event")


@pytest.mark.parametrize(
    ("way", "body", "shape"), FLOWS, ids=[f"{way}-{i}" for i, (way, _, _) in enumerate(FLOWS)]
)
def test_the_documented_examples_succeed(
    service: Running, way: str, body: str, shape: tuple[int, int, int], tmp_path: Path
) -> None:
    check_example(service, way, body, shape, tmp_path)


@pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)
def test_the_fullest_full_size_example_succeeds(service: Running, tmp_path: Path) -> None:
    check_example(service, "sse", PRO_ALL, PRO_SHAPE, tmp_path)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize("body", FULL_SIZE, ids=["minimal", "basic", "all"])
async def test_the_full_size_examples_are_queued_as_1080p_6_s_at_25_fps(
    body: str, tmp_path: Path, anyio_backend: str
) -> None:
    async with api(tmp_path) as local:
        response = await local.http.post("/api/ai/queue", content=body, headers=HEADERS)
        assert response.status_code == 200, response.text
        (generation,) = response.json()["generations"]
        job = local.service.store.get(generation["generation_id"])
        assert job is not None
        plan = plan_request(request_from_json(job.request))
        assert isinstance(plan, GenerationPlan)
        assert (plan.output_size.width, plan.output_size.height, plan.output_frames) == PRO_SHAPE
        assert plan.clip.fps == 25


def check_example(service: Running, way: str, body: str, shape: tuple[int, int, int], tmp_path: Path) -> None:
    url = {"sync": sync, "async": poll, "sse": stream}[way](service.alice, body)
    output = tmp_path / "result.mp4"
    output.write_bytes(httpx.get(url, timeout=120).raise_for_status().content)
    info = media.probe(output)
    assert info.video is not None and info.audio is not None
    assert (info.video.width, info.video.height, info.video.frame_count) == shape
