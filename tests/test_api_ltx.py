"""The LTX API's dialect over real HTTP (the app served by uvicorn in-process): v1 answering the video
itself, v2 jobs to poll, uploads by signed PUT, Lightricks' rules refused at their boundaries with its
error types, and its jobs seen by the other surfaces. The sketching worker makes each video at the
planned shape (no model)."""

import asyncio
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from ltxserve import media
from ltxserve.api.auth import LOCAL_OWNER
from ltxserve.api.ltx_models import INPUT_RULES
from ltxserve.database import JobState
from ltxserve.keys import KeyStore
from ltxserve.media import EncodeOptions, MediaLimits, OutputFormat
from ltxserve.media.testsrc import synthetic_clip
from ltxserve.probing import probe_inputs
from ltxserve.request import GenerationRequest, InvalidRequestError, MediaRef, RetakeOptions, Task
from tests.inprocess import Api, api
from tests.mediafiles import tone, write_audio

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def ltx(tmp_path: Path) -> Any:
    async with api(tmp_path, worker=True, over_http=True) as running:
        yield running


async def video_of(response: httpx.Response, tmp_path: Path) -> media.MediaInfo:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "video/mp4"
    assert int(response.headers["content-length"]) == len(response.content)
    assert response.headers["x-request-id"]
    path = tmp_path / f"{response.headers['x-request-id']}.mp4"
    path.write_bytes(response.content)
    return media.probe(path)


async def uploaded(ltx: Api, data: bytes) -> str:
    """The LTX upload flow: ask for a slot, PUT the bytes at its URL, refer to its storage_uri."""
    slot = (await ltx.http.post("/v1/upload")).json()
    assert slot["storage_uri"].startswith("ltx://uploads/") and slot["required_headers"] == {}
    assert slot["expires_at"].endswith("Z")
    put = await ltx.http.put(slot["upload_url"], content=data)
    assert put.status_code == 200, put.text
    uri: str = slot["storage_uri"]
    return uri


def refusal(response: httpx.Response, status: int, kind: str, says: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == kind
    assert says in body["error"]["message"], body


async def test_text_to_video_answers_the_video_itself(ltx: Api, tmp_path: Path) -> None:
    body = {"prompt": "waves", "model": "ltx-2-3-fast", "duration": 6, "resolution": "1280x720"}
    info = await video_of(await ltx.http.post("/v1/text-to-video", json=body), tmp_path)
    assert info.video is not None and info.audio is not None
    shape = (info.video.width, info.video.height, info.video.fps, info.video.frame_count)
    assert shape == (1280, 720, Fraction(24), 144)


PRO = {"prompt": "x", "model": "ltx-2-3-pro", "duration": 6, "resolution": "1920x1080"}
FAST = {**PRO, "model": "ltx-2-3-fast"}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({**PRO, "prompt": None}, "prompt:"),
        ({key: value for key, value in PRO.items() if key != "prompt"}, "prompt: required"),
        ({**PRO, "model": "ltx-2-pro"}, "model:"),
        ({**PRO, "duration": 7}, "duration: ltx-2-3-pro makes 6, 8, 10 s"),
        ({**PRO, "duration": 12}, "duration: ltx-2-3-pro makes"),
        ({**FAST, "duration": 22}, "duration: ltx-2-3-fast makes"),
        ({**FAST, "duration": 12, "resolution": "2560x1440"}, "duration: longer than 10 s"),
        ({**FAST, "duration": 12, "fps": 50}, "24 or 25 fps"),
        ({**PRO, "resolution": "1280x720"}, "resolution: 1280x720 is made by ltx-2-3-fast only"),
        ({**PRO, "resolution": "1920x1088"}, "resolution:"),
        ({**PRO, "fps": 30}, "fps:"),
        ({**PRO, "prompt": "x" * 5001}, "prompt:"),
    ],
)
async def test_lightricks_rules_are_400_invalid_request_errors_naming_the_field(
    ltx: Api, body: dict[str, Any], says: str
) -> None:
    refusal(await ltx.http.post("/v1/text-to-video", json=body), 400, "invalid_request_error", says)
    assert not await asyncio.to_thread(ltx.service.store.list_jobs, LOCAL_OWNER), "nothing queued"


async def test_the_longest_fast_video_at_the_boundary_is_accepted(ltx: Api) -> None:
    body = {"prompt": "x", "model": "ltx-2-3-fast", "duration": 20, "resolution": "1920x1080", "fps": 25}
    response = await ltx.http.post("/v2/text-to-video", json=body)
    assert response.status_code == 202, response.text


async def test_v2_jobs_are_polled_until_completed_and_forgotten_a_day_after(ltx: Api, clip: Path) -> None:
    uri = await uploaded(ltx, clip.read_bytes())
    submitted = await ltx.http.post("/v2/extend", json={"video_uri": uri, "duration": 2, "prompt": "rain"})
    assert submitted.status_code == 202, submitted.text
    job = submitted.json()
    assert set(job) == {"id", "created_at"} and job["created_at"].endswith("Z")
    seen = set()
    while (polled := (await ltx.http.get(f"/v2/extend/{job['id']}")).json())["status"] in (
        "pending",
        "processing",
    ):
        seen.add(polled["status"])
        await asyncio.sleep(0.05)
    video = await ltx.http.get(polled["result"]["video_url"])
    assert video.status_code == 200 and len(video.content) > 0
    assert (await ltx.http.get(f"/v2/retake/{job['id']}")).status_code == 404, "another endpoint's path"
    ended = time.time() - 25 * 3600
    with ltx.service.store.engine.begin() as connection:
        from ltxserve.database import jobs

        connection.execute(jobs.update().where(jobs.c.id == job["id"]).values(finished_at=ended))
    refusal(await ltx.http.get(f"/v2/extend/{job['id']}"), 404, "not_found_error", "kept 24 h")


async def test_extend_answers_the_whole_video_or_only_the_new_part(
    ltx: Api, clip: Path, tmp_path: Path
) -> None:
    """As Lightricks answers: the input with the extension at its end (or start); `extension_only`
    (ltxserve's own) answers the new part alone."""
    uri = await uploaded(ltx, clip.read_bytes())
    extend = {"video_uri": uri, "duration": 2}
    whole = await video_of(await ltx.http.post("/v1/extend", json=extend), tmp_path)
    alone = await video_of(
        await ltx.http.post("/v1/extend", json={**extend, "extension_only": True}),
        tmp_path,
    )
    assert whole.video is not None and alone.video is not None and alone.audio is not None
    assert (whole.video.frame_count, alone.video.frame_count) == (96 + 48, 48)
    assert (alone.video.width, alone.video.height) == (320, 180)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"duration": 1.5}, "duration:"),
        ({"duration": 20.5}, "duration:"),
        ({"duration": 2, "context": 0.5}, "context:"),
        ({"duration": 2, "mode": "middle"}, "mode:"),
        ({"duration": 2, "model": "ltx-2-3-fast"}, "model:"),
    ],
)
async def test_extend_rules_at_their_boundaries(ltx: Api, body: dict[str, Any], says: str) -> None:
    response = await ltx.http.post("/v1/extend", json={"video_uri": "https://example.com/v.mp4", **body})
    refusal(response, 400, "invalid_request_error", says)


async def test_an_upload_reference_that_is_not_one_is_refused(ltx: Api) -> None:
    for uri, says in (("ltx://other/abc", "ltx://uploads/<id>"), ("ltx://uploads/nothere", "no upload")):
        response = await ltx.http.post("/v1/extend", json={"video_uri": uri, "duration": 2})
        refusal(response, 400, "invalid_request_error", "video_uri: ")
        assert says in response.json()["error"]["message"]


async def test_an_upload_link_takes_only_its_own_put(ltx: Api) -> None:
    slot = (await ltx.http.post("/v1/upload")).json()
    forged = slot["upload_url"].replace("signature=", "signature=0")
    assert (await ltx.http.put(forged, content=b"x")).status_code == 403
    assert (await ltx.http.get(slot["upload_url"])).status_code == 404, "a PUT link is no download link"
    assert (await ltx.http.put(slot["upload_url"], content=b"")).status_code == 400


async def test_audio_to_video_is_as_long_as_its_audio_at_25_fps(ltx: Api, tmp_path: Path) -> None:
    sound = write_audio(tmp_path / "voice.wav", tone(2.0, 48_000), 48_000, "pcm_s16le", "wav")
    uri = await uploaded(ltx, sound.read_bytes())
    info = await video_of(
        await ltx.http.post("/v1/audio-to-video", json={"audio_uri": uri, "prompt": "a voice"}), tmp_path
    )
    assert info.video is not None and info.audio is not None
    shape = (info.video.width, info.video.height, info.video.fps, info.video.frame_count)
    assert shape == (1920, 1080, Fraction(25), 50)
    refusal(
        await ltx.http.post("/v1/audio-to-video", json={"audio_uri": uri}),
        400,
        "invalid_request_error",
        "prompt: give a prompt, a first frame image, or both",
    )


async def test_retake_answers_the_video_with_its_window_remade(ltx: Api, clip: Path, tmp_path: Path) -> None:
    uri = await uploaded(ltx, clip.read_bytes())
    body = {"video_uri": uri, "start_time": 1, "duration": 2, "prompt": "rain", "mode": "replace_video"}
    info = await video_of(await ltx.http.post("/v1/retake", json=body), tmp_path)
    assert info.video is not None and info.video.frame_count == 96
    refusal(
        await ltx.http.post("/v1/retake", json={**body, "duration": 1.9}),
        400,
        "invalid_request_error",
        "duration:",
    )


async def test_keys_are_bearer_and_refusals_are_authentication_errors(tmp_path: Path) -> None:
    async with api(tmp_path, auth=True, over_http=True) as ltx:
        _, key = KeyStore(ltx.service.store.engine).create("team")
        refusal(await ltx.http.post("/v1/upload"), 401, "authentication_error", "Bearer")
        refusal(
            await ltx.http.post("/v1/upload", headers={"Authorization": "Bearer nope"}),
            401,
            "authentication_error",
            "unknown",
        )
        ok = await ltx.http.post("/v1/upload", headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200


async def test_too_many_unfinished_jobs_is_a_concurrency_limit_error_with_retry_after(tmp_path: Path) -> None:
    async with api(tmp_path, max_unfinished_per_key=1, over_http=True) as ltx:
        body = {"prompt": "x", "model": "ltx-2-3-fast", "duration": 6, "resolution": "1920x1080"}
        assert (await ltx.http.post("/v2/text-to-video", json=body)).status_code == 202
        response = await ltx.http.post("/v2/text-to-video", json=body)
        refusal(response, 429, "concurrency_limit_error", "unfinished")
        assert int(response.headers["retry-after"]) > 0


async def test_unknown_endpoints_and_bodies_that_are_not_json(ltx: Api) -> None:
    refusal(await ltx.http.post("/v2/reframe", json={}), 404, "not_found_error", "no endpoint 'reframe'")
    refusal(await ltx.http.post("/v1/extend", content=b"{"), 400, "invalid_request_error", "not JSON")


async def test_an_ltx_job_is_seen_by_the_other_surfaces(ltx: Api) -> None:
    body = {"prompt": "x", "model": "ltx-2-3-pro", "duration": 6, "resolution": "1920x1080"}
    job = (await ltx.http.post("/v2/text-to-video", json=body)).json()
    while (await asyncio.to_thread(ltx.service.store.get, job["id"])).state is not JobState.SUCCEEDED:  # type: ignore[union-attr]
        await asyncio.sleep(0.05)
    oxen = (await ltx.http.get(f"/api/ai/queue/{job['id']}")).json()
    assert oxen["status"] == "succeeded" and oxen["model_name"] == "text-to-video" and oxen["result_url"]
    fal = await ltx.http.get(f"/fal/queue/fal-ai/ltx-2.3/requests/{job['id']}/status")
    assert fal.status_code == 200 and fal.json()["status"] == "COMPLETED"


@pytest.mark.parametrize(
    ("image_uri", "says"),
    [
        ("http://cdn.example.com/first.png", "image_uri: only https URLs are taken here"),
        ("https://93.184.216.34/first.png", "image_uri: URLs name a host here"),
        (
            "data:image/png;base64," + "A" * ((7 << 20) + 1),
            "image_uri: a data URI here holds at most 7340032",
        ),
    ],
)
async def test_lightricks_input_rules_hold_unless_the_operator_widens_them(
    tmp_path: Path, image_uri: str, says: str
) -> None:
    body = {**PRO, "image_uri": image_uri}
    (tmp_path / "strict").mkdir()
    (tmp_path / "wide").mkdir()
    async with api(tmp_path / "strict") as strict:
        refusal(await strict.http.post("/v2/image-to-video", json=body), 400, "invalid_request_error", says)
    if image_uri.startswith("data:"):
        return  # widened, it is the server's own data URI rules that read it
    async with api(tmp_path / "wide", provider_input_rules=False) as wide:
        assert (await wide.http.post("/v2/image-to-video", json=body)).status_code == 202


def test_the_input_rules_are_lightricks_numbers() -> None:
    mb = 1 << 20
    sizes = (INPUT_RULES.image_url_bytes, INPUT_RULES.media_url_bytes, INPUT_RULES.image_data_bytes,
             INPUT_RULES.media_data_bytes, INPUT_RULES.upload_bytes)  # fmt: skip
    assert sizes == (15 * mb, 32 * mb, 7 * mb, 15 * mb, 100 * mb)
    assert (INPUT_RULES.https_only, INPUT_RULES.host_names_only, INPUT_RULES.redirects) == (True, True, False)
    assert (
        INPUT_RULES.video_codecs == {"h264", "hevc"}
        and {"png", "jpeg", "webp", "mp4"} <= INPUT_RULES.containers
    )


async def test_a_v1_request_not_done_in_time_is_a_504_and_is_cancelled(tmp_path: Path) -> None:
    async with api(tmp_path, sync_timeout=0.2, over_http=True) as ltx:  # no worker: it stays queued
        response = await ltx.http.post("/v1/text-to-video", json=PRO)
        refusal(response, 504, "timeout_error", "use /v2/")
        (job,) = await asyncio.to_thread(ltx.service.store.list_jobs, LOCAL_OWNER)
        assert job.state is JobState.CANCELLED


async def test_audio_to_video_on_oxens_surface_under_ltxserves_own_model_id(ltx: Api, tmp_path: Path) -> None:
    """`ltx-2-3-pro-audio-to-video`: Oxen's shapes (input_audio, input_image), the LTX API's rules."""
    sound = write_audio(tmp_path / "voice.wav", tone(2.0, 48_000), 48_000, "pcm_s16le", "wav")
    audio = (await ltx.http.post("/api/uploads", content=sound.read_bytes())).json()["uri"]
    model = (await ltx.http.get("/api/ai/models/ltx-2-3-pro-audio-to-video")).json()
    assert "ltxserve's own" in model["description"]
    assert {"input_audio", "input_image"} <= set(model["json_request_schema"]["properties"])
    body = {"model": "ltx-2-3-pro-audio-to-video", "input_audio": audio, "prompt": "a singer",
            "aspect_ratio": "9:16"}  # fmt: skip
    made = (await ltx.http.post("/api/ai/videos/generate", json=body)).json()
    assert made["model"] == "ltx-2-3-pro-audio-to-video", made
    video = await ltx.http.get(made["videos"][0]["url"])
    path = tmp_path / "made.mp4"
    path.write_bytes(video.content)
    info = media.probe(path)
    assert info.video is not None and info.audio is not None
    shape = (info.video.width, info.video.height, info.video.fps, info.video.frame_count)
    assert shape == (1080, 1920, Fraction(25), 50)
    refused = await ltx.http.post("/api/ai/queue", json={**body, "prompt": ""})
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "prompt"


@pytest.mark.parametrize(
    ("made", "field", "says"),
    [
        ("clip.mp4", None, None),
        ("clip.webm", "retake.video", "webm files are not taken here"),
        ("clip.mkv", None, None),
        ("voice.wav", None, None),
        ("voice.flac", "audio", "flac files are not taken here"),
    ],
)
def test_lightricks_formats_are_checked_when_the_worker_probes(
    tmp_path: Path, made: str, field: str | None, says: str | None
) -> None:
    path = tmp_path / made
    if made.startswith("clip"):
        webm = made.endswith(".webm")
        encoded = path if webm else tmp_path / "encoded.mp4"
        options = EncodeOptions(OutputFormat.WEBM if webm else OutputFormat.MP4)
        media.encode_clip(encoded, synthetic_clip(128, 72, 73, Fraction(24)), options)
        if made.endswith(".mkv"):
            remux(encoded, path)
        path = path if webm or made.endswith(".mkv") else encoded
        retake = RetakeOptions(MediaRef.file(path), Fraction(0), Fraction(2))
        request = GenerationRequest(Task.RETAKE, "x", retake=retake, input_rules=INPUT_RULES)
    else:
        codec = "flac" if made.endswith(".flac") else "pcm_s16le"
        path = write_audio(path, tone(2.0, 48_000), 48_000, codec, made.rpartition(".")[2])
        request = GenerationRequest(
            Task.AUDIO_TO_VIDEO, "x", audio=MediaRef.file(path), match_audio=True, input_rules=INPUT_RULES
        )
    if field is None:
        probe_inputs(request, MediaLimits())
        return
    with pytest.raises(InvalidRequestError, match=says) as refused:
        probe_inputs(request, MediaLimits())
    assert refused.value.field == field


def remux(source: Path, destination: Path) -> Path:
    """The same streams in a Matroska file."""
    with av.open(str(source)) as inside, av.open(str(destination), "w", format="matroska") as outside:
        streams = {stream.index: outside.add_stream_from_template(stream) for stream in inside.streams}
        for packet in inside.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                outside.mux(packet)
    return destination


async def test_a_body_over_the_limit_is_a_413_request_too_large(tmp_path: Path) -> None:
    async with api(tmp_path, max_json_bytes=1000, over_http=True) as ltx:
        response = await ltx.http.post("/v1/text-to-video", json={**PRO, "prompt": "x" * 2000})
        refusal(response, 413, "request_too_large", "larger than 1000 bytes")
