"""fal's surface in-process, with a worker running the sketch renderer: the seed endpoint's schema
against fal's own page, its examples sent as written (their video at fal's CDN host, answered by a
local HTTPS server), the queue protocol (submit, status with logs, status stream, result, cancel),
synchronous runs, 422s naming the field, keys, configurable paths, pricing, and jobs of other
surfaces."""

import asyncio
import base64
import hashlib
import json
import math
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from ltxserve import media
from ltxserve.api.auth import LOCAL_OWNER
from ltxserve.api.fal_models import ENDPOINTS
from ltxserve.catalog import ParamsError
from ltxserve.database import JobState, open_database
from ltxserve.engine.planning import plan_generation, sized_to_image
from ltxserve.inputs import FetchPolicy
from ltxserve.keys import KeyStore
from ltxserve.media import ImageInfo
from ltxserve.request import InvalidRequestError, Pipeline, Sampling
from tests.conftest import ExampleAssets
from tests.httpfiles import Route, file_server
from tests.inprocess import EXPANDED, Api, api
from tests.measure import Made
from tests.mediafiles import tone, write_audio, write_image

pytestmark = pytest.mark.anyio
SEED = "fal-ai/ltx-2.3-22b/extend-video/lora"
SPEC = (Path(__file__).parent / "data" / "fal-ltx-2.3-22b-extend-video-lora.md").read_text()
QUEUE = "/fal/queue"
OK = {"prompt": "x", "video_url": "https://a.com/v.mp4", "loras": []}
"""The least the seed endpoint takes."""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass(frozen=True)
class SpecField:
    name: str
    kind: str
    required: bool
    default: Any
    minimum: float | None
    maximum: float | None
    options: list[str] | None


def spec_fields() -> dict[str, SpecField]:
    """The input fields fal's page lists, as it lists them."""
    schema = SPEC.split("### Input Schema")[1].split("**Required Parameters Example**")[0]
    fields = {}
    for block in schema.split("\n- **`")[1:]:
        name, kind, need = re.match(r"(\w+)`\*\* \(`([^`]+)`, _(\w+)_\)", block).groups()  # type: ignore[union-attr]
        default = re.search(r"\n  - Default: `(.*)`", block)
        limits = re.search(r"\n  - Range: `(.*)` to `(.*)`", block)
        options = re.search(r"\n  - Options: (.*)", block)
        fields[name] = SpecField(
            name,
            kind,
            need == "required",
            json.loads(default.group(1)) if default else None,
            float(limits.group(1)) if limits else None,
            float(limits.group(2)) if limits else None,
            re.findall(r'`"([^"]+)"`', options.group(1)) if options else None,
        )
    return fields


def data_uri(path: Path, content_type: str) -> str:
    return f"data:{content_type};base64," + base64.b64encode(path.read_bytes()).decode()


def spec_example(title: str) -> dict[str, Any]:
    block = SPEC.split(f"**{title}**:")[1].split("```json")[1].split("```")[0]
    example: dict[str, Any] = json.loads(block)
    return example


def test_the_seed_endpoint_takes_every_field_of_fals_page_with_its_defaults_and_ranges() -> None:
    fields = spec_fields()
    assert len(fields) == 40
    schema = ENDPOINTS[SEED].product.schema()
    properties = schema["properties"]
    assert set(properties) == set(fields)
    assert set(schema["required"]) == {name for name, spec in fields.items() if spec.required}
    types = {"string": "string", "integer": "integer", "float": "number", "boolean": "boolean"}
    for name, spec in fields.items():
        prop = properties[name]
        if spec.kind in types:
            kinds = {prop.get("type")} | {option.get("type") for option in prop.get("anyOf", [])}
            assert types[spec.kind] in kinds, name
        if not spec.required:
            assert prop.get("default") == spec.default, name
        if spec.minimum is not None:
            assert (prop["minimum"], prop["maximum"]) == (spec.minimum, spec.maximum), name
        if spec.options is not None:
            assert set(prop["enum"]) == set(spec.options), name


@pytest.fixture
async def fal(
    tmp_path: Path, example_assets: ExampleAssets, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Api]:
    """The API with a sketching worker; it fetches the examples' URLs from the local assets server."""
    monkeypatch.setenv("SSL_CERT_FILE", str(example_assets.ca_bundle))
    hosts = {("v3b.fal.media", 443): ("127.0.0.1", example_assets.port)}
    async with api(tmp_path, worker=True, fetch=FetchPolicy(connect_to=hosts)) as running:
        yield running


def local(url: str) -> str:
    """The path of one of this server's absolute URLs."""
    assert url.startswith("http://ltxserve.test/"), url
    return url.removeprefix("http://ltxserve.test")


async def submit(fal: Api, body: dict[str, Any], app: str = SEED) -> dict[str, Any]:
    response = await fal.http.post(f"{QUEUE}/{app}", json=body)
    assert response.status_code == 200, response.text
    submitted: dict[str, Any] = response.json()
    return submitted


async def completed(fal: Api, submitted: dict[str, Any], logs: bool = False) -> dict[str, Any]:
    """Polls the status URL as fal's clients do: 202 until COMPLETED, then 200."""
    while True:
        response = await fal.http.get(local(submitted["status_url"]), params={"logs": int(logs)})
        status: dict[str, Any] = response.json()
        if status["status"] == "COMPLETED":
            assert response.status_code == 200
            return status
        assert response.status_code == 202 and status["status"] in ("IN_QUEUE", "IN_PROGRESS")
        await asyncio.sleep(0.05)


async def video_of(fal: Api, output: dict[str, Any], tmp_path: Path) -> media.MediaInfo:
    url = output["video"]["url"]
    if url.startswith("data:"):
        data = base64.b64decode(url.split(",", 1)[1])
    else:
        data = (await fal.http.get(local(url))).content
    path = tmp_path / output["video"]["file_name"]
    path.write_bytes(data)
    return media.probe(path)


@pytest.mark.parametrize("title", ["Required Parameters Example", "Full Example"])
async def test_the_pages_examples_run_through_the_queue(fal: Api, title: str, tmp_path: Path) -> None:
    body = spec_example(title)
    submitted = await submit(fal, body)
    base = f"http://ltxserve.test{QUEUE}/fal-ai/ltx-2.3-22b/requests/{submitted['request_id']}"
    assert submitted["status"] == "IN_QUEUE" and submitted["queue_position"] == 0
    assert (submitted["response_url"], submitted["status_url"], submitted["cancel_url"]) == (
        base,
        f"{base}/status",
        f"{base}/cancel",
    ), "follow-up URLs name the app without the endpoint's sub-path"
    status = await completed(fal, submitted, logs=True)
    assert "error" not in status and status["metrics"]["inference_time"] >= 0
    messages = [line["message"] for line in status["logs"]]
    assert "queued" in messages and any(m.startswith("denoising: step 1/") for m in messages)
    assert any(m.startswith("done: 320x180, 217 frames at 24 fps") for m in messages)
    assert any(m.startswith("enable_safety_checker: no safety checker") for m in messages)
    assert {line["level"] for line in status["logs"]} <= {"INFO", "WARNING"}
    assert all(line["timestamp"].endswith("Z") for line in status["logs"])
    output = (await fal.http.get(local(submitted["response_url"]))).json()
    assert output["prompt"] == f"{body['prompt']} {EXPANDED}", "enable_prompt_expansion is on by default"
    assert output["seed"] == 7
    video = output["video"]
    assert (video["width"], video["height"], video["num_frames"], video["fps"]) == (320, 180, 217, 24.0)
    assert video["content_type"] == "video/mp4" and video["file_name"].endswith(".mp4")
    assert video["duration"] == pytest.approx(217 / 24, abs=1e-3)
    info = await video_of(fal, output, tmp_path)
    assert info.video is not None and info.video.frame_count == 217 and info.audio is not None


async def test_a_synchronous_run_answers_with_the_output(fal: Api, tmp_path: Path) -> None:
    body = {**spec_example("Required Parameters Example"), "num_frames": 24, "extend_direction": "backward"}
    response = await fal.http.post(f"/fal/run/{SEED}", json=body)
    assert response.status_code == 200, response.text
    output = response.json()
    assert output["video"]["num_frames"] == 96 + 24
    info = await video_of(fal, output, tmp_path)
    assert info.video is not None and info.video.frame_count == 120


async def test_sync_mode_returns_a_data_uri_and_the_output_type_is_honoured(fal: Api, tmp_path: Path) -> None:
    body = {**spec_example("Required Parameters Example"), "num_frames": 9, "sync_mode": True,
            "video_output_type": "VP9 (.webm)"}  # fmt: skip
    submitted = await submit(fal, body)
    await completed(fal, submitted)
    output = (await fal.http.get(local(submitted["response_url"]))).json()
    assert output["video"]["url"].startswith("data:video/webm;base64,")
    assert output["video"]["file_name"].endswith(".webm")
    info = await video_of(fal, output, tmp_path)
    assert info.video is not None and info.video.frame_count == 96 + 9


async def test_a_sync_mode_output_is_answered_once_and_no_copy_is_kept(fal: Api) -> None:
    body = {**spec_example("Required Parameters Example"), "num_frames": 9, "sync_mode": True}
    submitted = await submit(fal, body)
    await completed(fal, submitted)
    job = await asyncio.to_thread(fal.service.store.get, submitted["request_id"])
    assert job is not None and job.result is not None
    key = job.result["key"]
    assert fal.service.storage.size(key) is not None
    first = await fal.http.get(local(submitted["response_url"]))
    assert first.json()["video"]["url"].startswith("data:video/mp4;base64,")
    assert fal.service.storage.size(key) is None
    again = await fal.http.get(local(submitted["response_url"]))
    assert again.status_code == 410 and "sync_mode" in again.json()["detail"]
    status = await fal.http.get(local(submitted["status_url"]))
    assert status.json()["status"] == "COMPLETED", "the request itself is still known"
    listed = (await fal.http.get("/api/ai/queue", params={"status": "succeeded"})).json()
    mine = next(item for item in listed["generations"] if item["generation_id"] == submitted["request_id"])
    assert mine["result_url"] is None and mine["output"]["frames"] == 96 + 9

    ran = await fal.http.post(f"/fal/run/{SEED}", json=body)
    made = await asyncio.to_thread(fal.service.store.get, ran.headers["x-fal-request-id"])
    assert ran.json()["video"]["url"].startswith("data:") and made is not None and made.result is not None
    assert "key" not in made.result and made.result["frames"] == 96 + 9


async def test_the_status_stream_sends_each_change_and_closes_after_completed(fal: Api) -> None:
    submitted = await submit(fal, {**spec_example("Required Parameters Example"), "num_frames": 9})
    statuses = []
    async with fal.http.stream(
        "GET", local(submitted["status_url"]) + "/stream", params={"logs": 1}
    ) as stream:
        assert stream.status_code == 200
        async for line in stream.aiter_lines():
            if line.startswith("data:"):
                statuses.append(json.loads(line.removeprefix("data:").strip()))
    assert statuses[-1]["status"] == "COMPLETED" and statuses[-1]["logs"]
    assert all(status["status"] != "COMPLETED" for status in statuses[:-1])
    assert all(status["request_id"] == submitted["request_id"] for status in statuses)


async def test_queued_requests_report_their_position_and_cancel(tmp_path: Path) -> None:
    async with api(tmp_path) as fal:  # no worker: everything stays queued
        body = OK
        first, second = [await submit(fal, body) for _ in range(2)]
        status = await fal.http.get(local(second["status_url"]))
        assert status.status_code == 202 and status.json()["queue_position"] == 1
        still = await fal.http.get(local(first["response_url"]))
        assert still.status_code == 400 and "in progress" in still.json()["detail"]
        cancelled = await fal.http.put(local(first["cancel_url"]))
        assert cancelled.status_code == 202 and cancelled.json() == {"status": "CANCELLATION_REQUESTED"}
        status = await fal.http.get(local(first["status_url"]))
        assert status.status_code == 200
        assert status.json()["status"] == "COMPLETED" and status.json()["error_type"] == "request_cancelled"
        assert (await fal.http.get(local(second["status_url"]))).json()["queue_position"] == 0
        unknown = await fal.http.put(f"{QUEUE}/fal-ai/ltx-2.3-22b/requests/0000/cancel")
        assert unknown.status_code == 404 and unknown.json() == {"status": "NOT_FOUND"}


async def test_a_running_request_is_cancelled_at_its_next_step_and_a_finished_one_is_not(
    tmp_path: Path,
) -> None:
    async with api(tmp_path) as fal:
        store = fal.service.store
        submitted = await submit(fal, OK)
        claimed = await asyncio.to_thread(store.claim, "w", 60)
        assert claimed is not None
        status = await fal.http.get(local(submitted["status_url"]))
        assert status.status_code == 202 and status.json()["status"] == "IN_PROGRESS"
        cancelled = await fal.http.put(local(submitted["cancel_url"]))
        assert cancelled.status_code == 202 and cancelled.json() == {"status": "CANCELLATION_REQUESTED"}
        assert await asyncio.to_thread(store.heartbeat, claimed.id, "w", 60), "the worker is told to stop"
        assert await asyncio.to_thread(store.finish, claimed.id, "w", JobState.CANCELLED)
        again = await fal.http.put(local(submitted["cancel_url"]))
        assert again.status_code == 202, "a cancelled request is not completed work"
        done = await submit(fal, OK)
        claimed = await asyncio.to_thread(store.claim, "w", 60)
        assert claimed is not None
        result = {"key": "results/x.mp4", "content_type": "video/mp4", "size": 1}
        assert await asyncio.to_thread(store.finish, claimed.id, "w", JobState.SUCCEEDED, result=result)
        refused = await fal.http.put(local(done["cancel_url"]))
        assert refused.status_code == 400 and refused.json() == {"status": "ALREADY_COMPLETED"}


def without(name: str) -> dict[str, Any]:
    return {key: value for key, value in OK.items() if key != name}


@pytest.mark.parametrize(
    ("body", "location", "says"),
    [
        (without("prompt"), ["body", "prompt"], "required"),
        (without("video_url"), ["body", "video_url"], "required"),
        (without("loras"), ["body", "loras"], "required"),
        ({**OK, "num_frames": 8}, ["body", "num_frames"], "greater than or equal to 9"),
        ({**OK, "num_frames": 482}, ["body", "num_frames"], "less than or equal to 481"),
        ({**OK, "num_context_frames": 122}, ["body", "num_context_frames"], "less than or equal to 121"),
        ({**OK, "scheduler": "euler"}, ["body", "scheduler"], "'ltx2', 'linear_quadratic' or 'beta'"),
        ({**OK, "colour": "red"}, ["body", "colour"], "unknown parameter"),
        ({**OK, "video_url": "http://10.0.0.1/v.mp4"}, ["body", "video_url"], "private"),
        ({**OK, "loras": [{"path": "/etc/passwd"}]}, ["body", "loras", 0, "path"], "a URL"),
        ({**OK, "loras": [{"path": "http://10.0.0.1/l.safetensors"}]}, ["body", "loras", 0], "private"),
        ({**OK, "loras": [{"path": "https://hf.co/a/b", "weight_name": "l.safetensors"}]},
         ["body", "loras", 0, "weight_name"], "own URL"),
        ({**OK, "video_size": {"width": 513, "height": 288}}, ["body", "video_size"], "positive and even"),
        ({**OK, "video_cfg_scale": 0.5}, ["body", "video_cfg_scale"], "greater than or equal to 1"),
        ({**OK, "match_input_fps": False, "fps": 0.5}, ["body", "fps"], "greater than or equal to 1"),
    ],
)  # fmt: skip
async def test_bad_inputs_are_422s_naming_the_field(
    tmp_path: Path, body: dict[str, Any], location: list[Any], says: str
) -> None:
    async with api(tmp_path) as fal:
        response = await fal.http.post(f"{QUEUE}/{SEED}", json=body)
        assert response.status_code == 422, response.text
        (problem, *_) = [p for p in response.json()["detail"] if p["loc"] == location]
        assert says in problem["msg"]
        assert not await asyncio.to_thread(fal.service.store.list_jobs, LOCAL_OWNER), "nothing queued"


async def test_unknown_apps_are_refused_in_fals_envelope(tmp_path: Path) -> None:
    async with api(tmp_path) as fal:
        unknown = await fal.http.post(f"{QUEUE}/fal-ai/ltx-9/text-to-video", json={"prompt": "x"})
        assert unknown.status_code == 404 and "fal-ai/ltx-9/text-to-video" in unknown.json()["detail"]


async def test_keys_are_sent_as_fal_sends_them(tmp_path: Path) -> None:
    async with api(tmp_path, auth=True, database=f"sqlite:///{tmp_path / 'k.db'}") as fal:
        _, key = KeyStore(open_database(f"sqlite:///{tmp_path / 'k.db'}")).create("alice")
        body = OK
        anonymous = await fal.http.post(f"{QUEUE}/{SEED}", json=body)
        assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Key"
        assert "Authorization: Key <key>" in anonymous.json()["detail"]
        submitted = await fal.http.post(f"{QUEUE}/{SEED}", json=body, headers={"Authorization": f"Key {key}"})
        assert submitted.status_code == 200
        status = await fal.http.get(
            local(submitted.json()["status_url"]), headers={"Authorization": "Key nope"}
        )
        assert status.status_code == 401


async def test_the_queue_and_run_paths_are_settings(tmp_path: Path) -> None:
    async with api(tmp_path, fal_queue_path="/q", fal_run_path="/r") as fal:
        body = OK
        submitted = await fal.http.post(f"/q/{SEED}", json=body)
        assert submitted.status_code == 200
        assert submitted.json()["status_url"].startswith(
            "http://ltxserve.test/q/fal-ai/ltx-2.3-22b/requests/"
        )
        assert (await fal.http.post(f"{QUEUE}/{SEED}", json=body)).status_code == 404


async def test_an_oxen_job_shows_in_fals_status_and_result(fal: Api, clip: Path, tmp_path: Path) -> None:
    upload = (await fal.http.post("/api/uploads", content=clip.read_bytes())).json()["uri"]
    body = {"model": "ltx-2-3-pro-retake", "prompt": "rain", "input_video": upload}
    queued = (await fal.http.post("/api/ai/queue", json=body)).json()
    generation = queued["generations"][0]["generation_id"]
    response_url = f"http://ltxserve.test{QUEUE}/fal-ai/ltx-2.3-22b/requests/{generation}"
    urls = {"status_url": f"{response_url}/status", "response_url": response_url}
    status = await completed(fal, urls, logs=True)
    assert "error" not in status and any(line["message"].startswith("done:") for line in status["logs"])
    output = (await fal.http.get(local(urls["response_url"]))).json()
    assert output["prompt"] == "rain" and output["video"]["num_frames"] == 96
    oxen = (await fal.http.get(f"/api/ai/queue/{generation}")).json()
    assert oxen["status"] == "succeeded" and oxen["result_url"] == output["video"]["url"]


async def test_a_fal_job_shows_in_oxens_list(fal: Api) -> None:
    submitted = await submit(fal, {**spec_example("Required Parameters Example"), "num_frames": 9})
    await completed(fal, submitted)
    listed = (await fal.http.get("/api/ai/queue", params={"status": "succeeded"})).json()["generations"]
    (item,) = [item for item in listed if item["generation_id"] == submitted["request_id"]]
    assert item["model"] == SEED and item["num_frames"] == 9 and item["output"]["frames"] == 96 + 9


def test_prices_follow_fals_rule_per_megapixel_rounded_up() -> None:
    """The page's example: 121 frames at 1280x720 is ≈ 111.5 MP, $0.2013 at $0.001805 per MP."""

    seed = ENDPOINTS[SEED].product
    params = seed.validate(spec_example("Required Parameters Example"))
    assert seed.cost(params) is None, "an extension's size is its input's: known once it has run"
    assert seed.cost(params, Made(1280, 720, 121 + 96, 9.0)) == 0.2013
    text = ENDPOINTS["fal-ai/ltx-2.3-22b/text-to-video"].product
    square = text.validate({"prompt": "x", "video_size": {"width": 512, "height": 512}, "num_frames": 9})
    assert text.cost(square) == 0.0038, "2.36 MP at $0.001605, rounded up"
    pro = ENDPOINTS["fal-ai/ltx-2.3/text-to-video"].product
    assert pro.cost(pro.validate({"prompt": "x", "resolution": "1440p", "duration": 8})) == 1.28
    pro_image = ENDPOINTS["fal-ai/ltx-2.3/image-to-video"].product
    body = {"prompt": "x", "image_url": "https://a.com/i.png", "resolution": "1440p", "duration": 8}
    assert pro_image.cost(pro_image.validate(body)) == 0.96


@pytest.mark.parametrize(
    ("app", "body", "image", "size"),
    [
        ("image-to-video", {"resolution": "1440p"}, (600, 800), (1440, 2560)),
        ("image-to-video/fast", {}, (800, 600), (1920, 1080)),
        ("image-to-video", {"aspect_ratio": "16:9"}, (600, 800), (1920, 1080)),
        ("audio-to-video", {"aspect_ratio": "9:16"}, None, (1080, 1920)),
        ("audio-to-video", {"aspect_ratio": "16:9"}, (600, 800), (1920, 1080)),
    ],
)
def test_the_pro_aspect_ratio_auto_takes_the_images_orientation(
    app: str, body: dict[str, Any], image: tuple[int, int] | None, size: tuple[int, int]
) -> None:
    product = ENDPOINTS[f"fal-ai/ltx-2.3/{app}"].product
    media = {"image_url": "https://a.com/i.png"} if image else {}
    if app == "audio-to-video":
        media["audio_url"] = "https://a.com/a.wav"
    request = product.request(product.validate({"prompt": "x", **media, **body}))
    request = replace(request, match_audio=False, audio_seconds=None)  # sized here, not timed
    if image is not None:
        request = sized_to_image(request, ImageInfo("png", *image))
    made = plan_generation(request).output_size
    assert (made.width, made.height) == size


def test_pro_extend_takes_no_prompt_and_retake_needs_its_start() -> None:
    extend = ENDPOINTS["fal-ai/ltx-2.3/extend-video"].product
    assert extend.request(extend.validate({"video_url": "https://a.com/v.mp4"})).prompt == ""
    retake = ENDPOINTS["fal-ai/ltx-2.3/retake-video"].product
    with pytest.raises(ParamsError) as missing:
        retake.validate({"video_url": "https://a.com/v.mp4", "prompt": "x"})
    assert missing.value.field == "start_time"


async def test_the_pro_endpoints_take_fals_pro_fields(fal: Api, clip: Path) -> None:
    upload = (await fal.http.post("/api/uploads", content=clip.read_bytes())).json()["uri"]
    retake = await submit(
        fal,
        {
            "video_url": upload,
            "prompt": "rain",
            "start_time": 1,
            "duration": 2,
            "retake_mode": "replace_video",
        },
        "fal-ai/ltx-2.3/retake-video",
    )
    await completed(fal, retake)
    output = (await fal.http.get(local(retake["response_url"]))).json()
    assert output["video"]["num_frames"] == 96
    fast = await fal.http.post(
        f"{QUEUE}/fal-ai/ltx-2.3/text-to-video/fast", json={"prompt": "x", "duration": 12, "fps": 50}
    )
    assert fast.status_code == 422 and fast.json()["detail"][0]["loc"] == ["body", "duration"]


async def test_what_has_no_model_here_is_said_in_the_schema_and_the_logs(tmp_path: Path) -> None:
    properties = ENDPOINTS[SEED].product.schema()["properties"]
    assert "no safety checker runs on this server" in properties["enable_safety_checker"]["description"]
    assert "Gemma" in properties["enable_prompt_expansion"]["description"]
    async with api(tmp_path) as fal:
        for checked, said in ((True, ["enable_safety_checker: no safety checker runs on this server: "
                                      "outputs are not filtered"]), (False, [])):  # fmt: skip
            body = {**OK, "enable_safety_checker": checked, "enable_prompt_expansion": False}
            submitted = await submit(fal, body)
            status = (await fal.http.get(local(submitted["status_url"]), params={"logs": "true"})).json()
            assert [line["message"] for line in status["logs"] if line["level"] == "WARNING"] == said


@pytest.mark.parametrize(
    ("fields", "sampling"),
    [
        ({}, {"noise_injection": True, "step_reuse": None}),
        ({"use_restart_sampling": False}, {"noise_injection": False, "step_reuse": None}),
        ({"acceleration": "regular"}, {"noise_injection": True, "step_reuse": 1}),
        (
            {"acceleration": "full", "use_restart_sampling": False},
            {"noise_injection": False, "step_reuse": 3},
        ),
    ],
)
def test_restart_sampling_and_acceleration_are_the_engines_noise_injection_and_step_reuse(
    fields: dict[str, Any], sampling: dict[str, Any]
) -> None:
    seed = ENDPOINTS[SEED].product
    request = seed.request(seed.validate({**OK, **fields}))
    assert {name: getattr(request.sampling, name) for name in sampling} == sampling
    distilled = ENDPOINTS["fal-ai/ltx-2.3-22b/distilled/text-to-video"].product
    accelerated = {name: value for name, value in fields.items() if name == "acceleration"}
    fast = distilled.request(distilled.validate({"prompt": "x", **accelerated}))
    assert fast.sampling.step_reuse == sampling["step_reuse"]


async def test_json_bodies_only_as_objects(tmp_path: Path) -> None:
    async with api(tmp_path) as fal:
        response = await fal.http.post(f"{QUEUE}/{SEED}", content=b"[1, 2]")
        assert response.status_code == 400 and "JSON object" in response.json()["detail"]
        assert httpx.codes.is_client_error(response.status_code)


async def test_loras_by_url_are_fetched_once_and_kept_by_content(
    tmp_path: Path, example_assets: ExampleAssets, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = b"a LoRA's bytes"  # the sketching worker does not load it; the engine's test does
    with file_server(
        {"/style.safetensors": Route(weights), "/same.safetensors": Route(weights)}
    ) as lora_host:
        hosts = {("v3b.fal.media", 443): ("127.0.0.1", example_assets.port)}
        policy = FetchPolicy.from_allow_list(["127.0.0.1"], connect_to=hosts)
        monkeypatch.setenv("SSL_CERT_FILE", str(example_assets.ca_bundle))
        async with api(tmp_path, worker=True, fetch=policy) as fal:
            body = {**spec_example("Required Parameters Example"), "num_frames": 9}
            for path in ("/style.safetensors", "/style.safetensors", "/same.safetensors"):
                submitted = await submit(
                    fal, {**body, "loras": [{"path": lora_host.url(path), "scale": 0.5}]}
                )
                status = await completed(fal, submitted)
                assert "error" not in status, status
        assert lora_host.hits == ["/style.safetensors", "/same.safetensors"], "each source fetched once"
        cache = tmp_path / "cache" / "loras"
        (kept,) = cache.glob("*.safetensors")
        assert (
            kept.read_bytes() == weights and kept.name == f"{hashlib.sha256(weights).hexdigest()}.safetensors"
        )


@pytest.mark.parametrize(("image_size", "video_size"), [((512, 512), (768, 768)), ((576, 1024), (576, 1024))])
async def test_an_auto_sized_image_to_video_takes_the_images_shape(
    tmp_path: Path, image_size: tuple[int, int], video_size: tuple[int, int]
) -> None:
    """'auto': the image's aspect ratio at the default size's area (1024x576), priced by what it made."""
    width, height = image_size
    path = write_image(tmp_path / "first.png", np.zeros((height, width, 3), np.uint8), "png", "image2")
    data = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
    async with api(tmp_path, worker=True) as fal:
        body = {"prompt": "x", "image_url": data, "num_frames": 9, "enable_prompt_expansion": False}
        submitted = await submit(fal, body, "fal-ai/ltx-2.3-22b/image-to-video")
        await completed(fal, submitted)
        output = (await fal.http.get(local(submitted["response_url"]))).json()
        assert (output["video"]["width"], output["video"]["height"], output["video"]["num_frames"]) == (
            *video_size,
            9,
        )
        assert output["prompt"] == "x"
        job = await asyncio.to_thread(fal.service.store.get, submitted["request_id"])
        assert job is not None and job.cost is None, "priced once its size is known"
    product = ENDPOINTS["fal-ai/ltx-2.3-22b/image-to-video"].product
    params = product.validate(body)

    expected = math.ceil(video_size[0] * video_size[1] * 9 / 1e6 * 0.001605 * 1e4) / 1e4
    assert product.cost(params, Made(*video_size, 9, 9 / 24)) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("changes", "shape"),
    [
        ({}, (1024, 576, 48)),
        ({"match_audio_length": False, "num_frames": 17}, (1024, 576, 17)),
        ({"video_size": "square"}, (512, 512, 48)),
    ],
)
async def test_audio_to_video_lasts_as_long_as_its_audio(
    tmp_path: Path, changes: dict[str, Any], shape: tuple[int, int, int]
) -> None:
    """match_audio_length (the default): 2 s of audio at 24 fps is 48 frames; auto without an image
    is the default landscape size."""
    path = write_audio(tmp_path / "voice.wav", tone(2.0, 48_000), 48_000, "pcm_s16le", "wav")
    data = "data:audio/wav;base64," + base64.b64encode(path.read_bytes()).decode()
    async with api(tmp_path, worker=True) as fal:
        body = {"prompt": "x", "audio_url": data, "enable_prompt_expansion": False, **changes}
        submitted = await submit(fal, body, "fal-ai/ltx-2.3-22b/audio-to-video")
        status = await completed(fal, submitted)
        assert "error" not in status, status
        video = (await fal.http.get(local(submitted["response_url"]))).json()["video"]
        assert (video["width"], video["height"], video["num_frames"]) == shape
        job = await asyncio.to_thread(fal.service.store.get, submitted["request_id"])
        assert job is not None
        assert (job.cost is None) == (changes.get("match_audio_length", True) is True), "priced when known"


def test_the_distilled_family_runs_the_distilled_pipeline_without_knobs() -> None:
    text = ENDPOINTS["fal-ai/ltx-2.3-22b/distilled/text-to-video"].product
    request = text.request(text.validate({"prompt": "x"}))
    assert request.sampling == Sampling(pipeline=Pipeline.DISTILLED) and (request.width, request.height) == (
        1024,
        576,
    )
    with pytest.raises(InvalidRequestError) as refused:
        text.request(text.validate({"prompt": "x", "use_multiscale": False}))
    assert refused.value.field == "use_multiscale"
    with pytest.raises(InvalidRequestError) as unknown:
        text.validate({"prompt": "x", "video_cfg_scale": 3})
    assert unknown.value.field == "video_cfg_scale" and unknown.value.message == "unknown parameter"
    lora = ENDPOINTS["fal-ai/ltx-2.3-22b/distilled/text-to-video/lora"].product
    prices = (
        text.cost(text.validate({"prompt": "x"})),
        lora.cost(lora.validate({"prompt": "x", "loras": []})),
    )
    megapixels = 1024 * 576 * 121 / 1e6
    assert prices == tuple(math.ceil(megapixels * rate * 1e4) / 1e4 for rate in (0.001205, 0.001405))


@pytest.mark.parametrize(
    ("image_size", "video_size"),
    [(None, (1920, 1080)), ((600, 800), (1080, 1920)), ((800, 600), (1920, 1080))],
)
async def test_pro_audio_to_video_follows_its_audio_at_25_fps_shaped_by_the_images_orientation(
    tmp_path: Path, image_size: tuple[int, int] | None, video_size: tuple[int, int]
) -> None:
    """As the LTX API makes it: as long as the audio, 25 fps, 1920x1080 or 1080x1920 by the first
    frame's orientation, guidance 5 (9 with an image); priced at $0.10 a second of audio."""
    path = write_audio(tmp_path / "voice.wav", tone(2.0, 48_000), 48_000, "pcm_s16le", "wav")
    body: dict[str, Any] = {"prompt": "a voice", "audio_url": data_uri(path, "audio/wav")}
    if image_size is not None:
        width, height = image_size
        image = write_image(tmp_path / "first.png", np.zeros((height, width, 3), np.uint8), "png", "image2")
        body["image_url"] = data_uri(image, "image/png")
    product = ENDPOINTS["fal-ai/ltx-2.3/audio-to-video"].product
    params = product.validate(body)
    assert product.request(params).sampling.video.cfg == (5.0 if image_size is None else 9.0)
    async with api(tmp_path, worker=True) as fal:
        submitted = await submit(fal, body, "fal-ai/ltx-2.3/audio-to-video")
        status = await completed(fal, submitted)
        assert "error" not in status, status
        video = (await fal.http.get(local(submitted["response_url"]))).json()["video"]
    assert (video["width"], video["height"], video["num_frames"], video["fps"]) == (*video_size, 50, 25.0)
    assert product.cost(params, Made(*video_size, 50, 2.0)) == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("seconds", "body", "field", "says"),
    [
        (1.0, {"prompt": "x"}, "audio_url", "must last 2-20 s"),
        (21.0, {"prompt": "x"}, "audio_url", "must last 2-20 s"),
        (2.0, {}, "prompt", "a prompt, a first frame image, or both"),
        (2.0, {"prompt": "x", "guidance_scale": 0.5}, "guidance_scale", "greater than or equal to 1"),
    ],
)
async def test_pro_audio_to_video_refuses_what_the_ltx_api_refuses(
    tmp_path: Path, seconds: float, body: dict[str, Any], field: str, says: str
) -> None:
    """At submit, or for the audio's length (known once the worker has read it) as the request's
    422 result."""
    path = write_audio(tmp_path / "voice.wav", tone(seconds, 8_000), 8_000, "pcm_s16le", "wav")
    async with api(tmp_path, worker=True) as fal:
        response = await fal.http.post(
            f"{QUEUE}/fal-ai/ltx-2.3/audio-to-video", json={**body, "audio_url": data_uri(path, "audio/wav")}
        )
        if field == "audio_url":
            assert response.status_code == 200, response.text
            await completed(fal, response.json())
            response = await fal.http.get(local(response.json()["response_url"]))
        assert response.status_code == 422, response.text
        (problem,) = [p for p in response.json()["detail"] if p["loc"] == ["body", field]]
        assert says in problem["msg"]


def test_image_and_audio_strengths_and_the_interpolation_direction_reach_the_request() -> None:
    """Fields of fal's image- and audio-to-video schemas (fal's JS client types) beyond the seed's."""
    images = ENDPOINTS["fal-ai/ltx-2.3-22b/image-to-video"].product
    body = {"prompt": "x", "image_url": "https://a.com/first.png", "end_image_url": "https://a.com/last.png",
            "image_strength": 0.75, "end_image_strength": 0.5}  # fmt: skip
    forward = images.request(images.validate(body))
    backward = images.request(images.validate({**body, "interpolation_direction": "backward"}))
    assert forward.first_frame is not None and forward.last_frame is not None
    assert (forward.first_frame.image.uri, forward.first_frame.strength) == ("https://a.com/first.png", 0.75)
    assert (forward.last_frame.image.uri, forward.last_frame.strength) == ("https://a.com/last.png", 0.5)
    assert (backward.first_frame, backward.last_frame) == (forward.last_frame, forward.first_frame)
    sound = ENDPOINTS["fal-ai/ltx-2.3-22b/audio-to-video"].product
    request = sound.request(
        sound.validate({"prompt": "x", "audio_url": "https://a.com/a.wav", "audio_strength": 0.25})
    )
    assert request.audio_strength == 0.25
    with pytest.raises(ParamsError) as refused:
        sound.validate({"prompt": "x", "audio_url": "https://a.com/a.wav", "audio_strength": 1.5})
    assert refused.value.field == "audio_strength"
