"""OpenAI's videos dialect, driven by the official `openai` SDK (its async client over real HTTP to
the app served by uvicorn in-process, the sketching worker making each video at the planned shape):
create, create_and_poll, retrieve, list with its cursor, download_content (video, thumbnail,
spritesheet), delete, remix, models; ltxserve's own parameters as extra body fields; errors in
OpenAI's envelope."""

import asyncio
import io
from collections.abc import AsyncIterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import openai
import pytest

from ltxserve import media
from tests.inprocess import Api, api
from tests.mediafiles import tone, write_audio, write_image

pytestmark = [
    pytest.mark.anyio,
    # the SDK warns that OpenAI's own Sora API shuts down; its videos methods are what is tested here
    pytest.mark.filterwarnings("ignore:The Sora API is scheduled:DeprecationWarning"),
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Api]:
    async with api(tmp_path, worker=True, over_http=True) as running:
        yield running


@pytest.fixture
async def client(served: Api) -> AsyncIterator[openai.AsyncOpenAI]:
    """The SDK with only its base URL changed."""
    async with openai.AsyncOpenAI(
        base_url=f"{str(served.http.base_url).rstrip('/')}/v1", api_key="any"
    ) as sdk:
        yield sdk


def shape(seconds: str, size: str) -> dict[str, Any]:
    """A length and size beyond the SDK's literal types (OpenAI's four sizes, 4/8/12 s): any is made here."""
    return {"seconds": seconds, "size": size}


async def probed(data: bytes, tmp_path: Path, name: str = "video.mp4") -> media.MediaInfo:
    path = tmp_path / name
    path.write_bytes(data)
    return media.probe(path)


async def test_create_and_poll_then_download_the_video_and_its_stills(
    served: Api, tmp_path: Path, client: openai.AsyncOpenAI
) -> None:
    video = await client.videos.create_and_poll(
        prompt="a lighthouse at dusk", model="ltx-2-3-fast", **shape("4", "1280x720"), poll_interval_ms=50
    )
    assert (video.object, video.status, video.progress, video.model) == (
        "video",
        "completed",
        100,
        "ltx-2-3-fast",
    )
    assert (video.seconds, video.size) == ("4", "1280x720")
    assert video.completed_at is not None and video.expires_at is not None and video.error is None
    content = await client.videos.download_content(video.id)
    info = await probed(content.read(), tmp_path)
    assert info.video is not None and info.audio is not None
    assert (info.video.width, info.video.height, info.video.frame_count) == (1280, 720, 96)
    for variant, size in (("thumbnail", (1280, 720)), ("spritesheet", (800, 450))):
        still = (await client.videos.download_content(video.id, variant=variant)).read()  # type: ignore[arg-type]
        with av.open(io.BytesIO(still), "r") as container:
            frame = next(container.decode(video=0))
            assert (frame.width, frame.height) == size


async def test_openais_own_defaults_and_model_names_run_here(served: Api, client: openai.AsyncOpenAI) -> None:
    """A client that names nothing but the prompt (the SDK's defaults: 4 s at 720x1280) or OpenAI's
    model names gets a video of that shape."""
    plain = await client.videos.create_and_poll(prompt="rain", poll_interval_ms=50)
    named = await client.videos.create_and_poll(prompt="rain", model="sora-2-pro", poll_interval_ms=50)
    assert (plain.status, plain.size, plain.seconds, plain.model) == (
        "completed",
        "720x1280",
        "4",
        "ltx-2-3-fast",
    )
    assert (named.status, named.model) == ("completed", "sora-2-pro")
    job = await asyncio.to_thread(served.service.store.get, named.id)
    assert job is not None and job.request["sampling"]["pipeline"] == "two_stage"


async def test_an_input_reference_file_is_the_first_frame(
    served: Api, tmp_path: Path, client: openai.AsyncOpenAI
) -> None:
    red = np.zeros((720, 1280, 3), np.uint8)
    red[..., 0] = 255
    image = write_image(tmp_path / "first.png", red, "png", "image2")
    video = await client.videos.create(
        prompt="a red wall", size="1280x720", input_reference=image.read_bytes()
    )
    job = await asyncio.to_thread(served.service.store.get, video.id)
    assert job is not None and job.request["task"] == "image_to_video"
    assert job.request["first_frame"]["image"]["uri"].startswith("upload://"), "the file became an upload"


async def test_ltxserves_own_parameters_pass_as_extra_body_fields(
    served: Api, clip: Path, tmp_path: Path, client: openai.AsyncOpenAI
) -> None:
    upload = (await served.http.post("/api/uploads", content=clip.read_bytes())).json()["uri"]
    extended = await client.videos.create_and_poll(
        prompt="the camera pulls back",
        extra_body={"extend": {"video": upload, "duration": 2, "edge": "start"}, "seed": 7},
        poll_interval_ms=50,
    )
    assert extended.status == "completed" and (extended.size, extended.seconds) == ("320x180", "6")
    info = await probed((await client.videos.download_content(extended.id)).read(), tmp_path)
    assert info.video is not None and info.video.frame_count == 96 + 48
    with pytest.raises(openai.BadRequestError) as typo:
        await client.videos.create(prompt="x", extra_body={"extend": {"video": upload, "durations": 2}})
    error = typo.value.body
    assert isinstance(error, dict) and error["param"] == "extend.durations"
    assert error["type"] == "invalid_request_error" and "unknown parameter" in error["message"]


async def test_an_extend_longer_than_one_window_up_to_the_servers_longest(
    served: Api, clip: Path, tmp_path: Path, client: openai.AsyncOpenAI
) -> None:
    """ltxserve's own parameters are not held to a provider's 20 s: up to `--max-extend` (60 s)."""
    upload = (await served.http.post("/api/uploads", content=clip.read_bytes())).json()["uri"]
    extended = await client.videos.create_and_poll(
        prompt="", extra_body={"extend": {"video": upload, "duration": 30}}, poll_interval_ms=50
    )
    assert extended.status == "completed" and extended.seconds == "34"
    info = await probed((await client.videos.download_content(extended.id)).read(), tmp_path)
    assert info.video is not None and info.video.frame_count == 96 + 720
    with pytest.raises(openai.BadRequestError) as refused:
        await client.videos.create(prompt="", extra_body={"extend": {"video": upload, "duration": 60.5}})
    error = refused.value.body
    assert (
        isinstance(error, dict) and error["param"] == "extend.duration" and "at most 60 s" in error["message"]
    )


@pytest.mark.parametrize(
    ("fields", "param", "says"),
    [
        ({"model": "sora-9"}, "model", "unknown model"),
        ({"size": "wide"}, "size", "width x height"),
        ({"size": "1281x720"}, "size", "even"),
        ({"size": "9" * 5000 + "x720"}, "size", "width x height"),
        ({"seconds": "soon"}, "seconds", "a number of seconds"),
        ({"seconds": "30"}, "seconds", "one pass makes"),
        ({"extra_body": {"task": "dance"}}, "task", "one of"),
        ({"extra_body": {"input_rules": {"https_only": False}}}, "input_rules", "unknown parameter"),
    ],
)
async def test_bad_fields_are_400s_in_openais_envelope_naming_the_param(
    served: Api, fields: dict[str, Any], param: str, says: str, client: openai.AsyncOpenAI
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        await client.videos.create(prompt="x", **fields)
    error = refused.value.body
    assert isinstance(error, dict) and error["param"] == param and says in error["message"], error
    assert refused.value.status_code == 400


async def test_list_pages_with_the_sdks_cursor_in_both_orders(
    served: Api, client: openai.AsyncOpenAI
) -> None:
    made = [
        (await client.videos.create(prompt=f"clip {index}", **shape("1", "128x72"))).id for index in range(5)
    ]
    page = await client.videos.list(limit=2)
    assert [video.id for video in page.data] == made[::-1][:2] and page.has_more
    every = [video.id async for video in client.videos.list(limit=2)]
    assert every == made[::-1]
    oldest = [video.id async for video in client.videos.list(limit=2, order="asc")]
    assert oldest == made


async def test_delete_forgets_the_video_and_its_file(served: Api, client: openai.AsyncOpenAI) -> None:
    video = await client.videos.create_and_poll(prompt="x", **shape("1", "128x72"), poll_interval_ms=50)
    job = await asyncio.to_thread(served.service.store.get, video.id)
    assert job is not None and job.result is not None
    deleted = await client.videos.delete(video.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (video.id, True, "video.deleted")
    assert served.service.storage.size(job.result["key"]) is None
    with pytest.raises(openai.NotFoundError) as gone:
        await client.videos.retrieve(video.id)
    assert isinstance(gone.value.body, dict) and gone.value.body["param"] == "video_id"


async def test_a_remix_retakes_the_whole_clip_under_a_new_prompt(
    served: Api, tmp_path: Path, client: openai.AsyncOpenAI
) -> None:
    source = await client.videos.create_and_poll(
        prompt="a calm sea", **shape("4", "320x180"), poll_interval_ms=50
    )
    remix = await client.videos.remix(source.id, prompt="a stormy sea")
    assert remix.remixed_from_video_id == source.id and remix.id != source.id
    done = await client.videos.poll(remix.id, poll_interval_ms=50)
    assert done.status == "completed" and str(done.size) == "320x180"
    job = await asyncio.to_thread(served.service.store.get, remix.id)
    assert job is not None and job.request["task"] == "retake" and job.request["prompt"] == "a stormy sea"
    assert Fraction(job.request["retake"]["duration"]) == 4
    info = await probed((await client.videos.download_content(remix.id)).read(), tmp_path)
    assert info.video is not None and info.video.frame_count == 96


async def test_a_video_made_by_another_surface_can_be_remixed(
    served: Api, client: openai.AsyncOpenAI
) -> None:
    body = {"prompt": "x", "video_size": {"width": 128, "height": 72}, "num_frames": 73,
            "enable_prompt_expansion": False}  # fmt: skip
    fal = (await served.http.post("/fal/queue/fal-ai/ltx-2.3-22b/text-to-video", json=body)).json()
    await client.videos.poll(fal["request_id"], poll_interval_ms=50)
    remix = await client.videos.remix(fal["request_id"], prompt="y")
    done = await client.videos.poll(remix.id, poll_interval_ms=50)
    assert (done.status, done.model, done.size) == ("completed", "ltx-2-3-fast", "128x72")


async def test_models_are_listed(served: Api, client: openai.AsyncOpenAI) -> None:
    listed = [model.id async for model in client.models.list()]
    assert listed == ["ltx-2-3-fast", "ltx-2-3-pro"]


async def test_a_video_made_elsewhere_is_a_video_here(served: Api, client: openai.AsyncOpenAI) -> None:
    """A job of the LTX API's surface, seen through OpenAI's."""
    body = {"prompt": "x", "model": "ltx-2-3-fast", "duration": 6, "resolution": "1280x720"}
    job = (await served.http.post("/v2/text-to-video", json=body)).json()
    video = await client.videos.poll(job["id"], poll_interval_ms=50)
    assert (video.status, video.size, video.seconds) == ("completed", "1280x720", "6")


async def test_audio_to_video_rides_along_as_an_extra_body_field(
    served: Api, client: openai.AsyncOpenAI, tmp_path: Path
) -> None:
    sound = write_audio(tmp_path / "voice.wav", tone(2.0, 48_000), 48_000, "pcm_s16le", "wav")
    upload = (await served.http.post("/api/uploads", content=sound.read_bytes())).json()["uri"]
    video = await client.videos.create_and_poll(
        prompt="a singer", **shape("4", "320x180"), extra_body={"audio": upload, "match_audio": True},
        poll_interval_ms=50,
    )  # fmt: skip
    assert video.status == "completed" and (video.size, video.seconds) == ("320x180", "2")


async def test_the_requests_own_size_and_pipeline_win_over_openais_summary_fields(
    served: Api, client: openai.AsyncOpenAI
) -> None:
    """`size`, `seconds` and `model` stand for the request's width and height, duration and pipeline
    when those are not given; given, the request's own terms are what is made."""
    own = {"width": 320, "height": 192, "duration": {"frames": 25}, "sampling": {"pipeline": "one_stage"},
           "seed": 7}  # fmt: skip
    video = await client.videos.create_and_poll(prompt="rain", extra_body=own, poll_interval_ms=50)
    assert (video.status, video.size) == ("completed", "320x192")
    job = await asyncio.to_thread(served.service.store.get, video.id)
    assert job is not None and job.request["sampling"]["pipeline"] == "one_stage"
    assert (job.request["width"], job.request["height"], job.request["duration"]["frames"]) == (320, 192, 25)
    assert job.request["seed"] == 7 and job.result is not None and job.result["seed"] == 7
    sized = await client.videos.create(
        prompt="rain", extra_body={"resolution": "720p", "aspect_ratio": "9:16"}
    )
    job = await asyncio.to_thread(served.service.store.get, sized.id)
    assert job is not None and (job.request["width"], job.request["resolution"]) == (None, "720p")


async def test_the_prompt_is_required_where_the_request_needs_one(
    served: Api, clip: Path, client: openai.AsyncOpenAI
) -> None:
    """Text-to-video needs a prompt (a 400 naming it); an extend may go without, as on every surface."""
    with pytest.raises(openai.BadRequestError) as missing:
        await client.post("/videos", body={}, cast_to=openai.types.Video)
    assert missing.value.body["param"] == "prompt"  # type: ignore[index]
    upload = (await served.http.post("/api/uploads", content=clip.read_bytes())).json()["uri"]
    video = await client.post(
        "/videos", body={"extend": {"video": upload, "duration": 1}}, cast_to=openai.types.Video
    )
    assert (await client.videos.poll(video.id, poll_interval_ms=50)).status == "completed"
