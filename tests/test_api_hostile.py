"""Hostile input against every surface's submit route, over real HTTP: numbers JSON cannot hold
(1e999, NaN), integers too long to read, bodies and form names nested thousands deep, and digits
`str.isdigit` takes but `int` does not. Each is a 4xx in the surface's own envelope; nothing is queued
and nothing reaches the server's log as a traceback."""

import asyncio
import base64
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ltxserve.api.auth import LOCAL_OWNER
from ltxserve.api.bodies import MAX_TEXT
from tests.inprocess import api
from tests.mediafiles import write_image

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


SURFACES = {
    "oxen": ("/api/ai/queue", {"model": "ltx-2-3-pro-retake", "prompt": "x", "input_video": "https://a.com/v.mp4",
                               "retake_start_time": 1.0}),
    "fal": ("/fal/queue/fal-ai/ltx-2.3/retake-video", {"video_url": "https://a.com/v.mp4", "prompt": "x",
                                                       "start_time": 1.0}),
    "ltx": ("/v2/retake", {"video_uri": "https://a.com/v.mp4", "duration": 2, "start_time": 1.0}),
    "openai": ("/v1/videos", {"prompt": "x", "seconds": 1.0}),
}  # fmt: skip
"""Each surface's submit route, and a body whose last field is a number."""


def envelope_of(surface: str, body: Any) -> bool:
    """The surface's own error envelope."""
    if surface == "ltx":
        return bool(body["type"] == "error" and body["error"]["type"] == "invalid_request_error")
    if surface == "fal":
        return "detail" in body
    return "error" in body


def with_number(body: dict[str, Any], text: str) -> str:
    """The JSON body with its last number replaced by `text`, as a client could send it."""
    *_, last = body
    return json.dumps(body).replace(json.dumps(body[last]) + "}", text + "}")


@pytest.mark.parametrize("surface", SURFACES)
async def test_numbers_json_cannot_hold_are_refused_in_the_surfaces_envelope(
    tmp_path: Path, surface: str, caplog: pytest.LogCaptureFixture
) -> None:
    route, body = SURFACES[surface]
    async with api(tmp_path, over_http=True) as served:
        for number in ["1e999", "-1e999", "NaN", "Infinity", "9" * 5000, '"inf"', '"nan"']:
            with caplog.at_level(logging.ERROR):
                response = await served.http.post(
                    route, content=with_number(body, number), headers={"Content-Type": "application/json"}
                )
            assert 400 <= response.status_code < 500, (number[:12], response.text)
            assert envelope_of(surface, response.json()), response.text
            assert len(response.content) < 4000, "bad input is not echoed whole"
        assert not await asyncio.to_thread(served.service.store.list_jobs, LOCAL_OWNER)
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("surface", SURFACES)
async def test_bodies_and_form_names_nested_thousands_deep_are_refused(tmp_path: Path, surface: str) -> None:
    route, body = SURFACES[surface]
    deep = "[" * 10_000 + "]" * 10_000
    async with api(tmp_path, over_http=True) as served:
        response = await served.http.post(
            route, content=with_number(body, deep), headers={"Content-Type": "application/json"}
        )
        assert 400 <= response.status_code < 500 and envelope_of(surface, response.json()), response.text
        form = await served.http.post(route, files={"prompt" + "[a]" * 10_000: (None, "x")})
        assert 400 <= form.status_code < 500 and envelope_of(surface, form.json()), form.text


@pytest.mark.parametrize("value", ["²", "٣", "9" * 30, "-1"])
async def test_digits_int_does_not_read_are_400s_where_numbers_are_asked(tmp_path: Path, value: str) -> None:
    async with api(tmp_path, over_http=True) as served:
        listed = await served.http.get("/api/ai/queue", params={"limit": value})
        assert listed.status_code == 400 and listed.json()["error"]["field"] == "limit"
        for resume in ({"params": {"after": value}}, {"headers": {"Last-Event-ID": value.encode()}}):
            events = await served.http.get("/api/events", **resume)
            assert events.status_code == 400, events.text


async def test_the_largest_event_id_is_taken_and_one_past_it_is_not(tmp_path: Path) -> None:
    async with api(tmp_path, over_http=True) as served:
        too_large = await served.http.get("/api/events", headers={"Last-Event-ID": str(2**63)})
        assert too_large.status_code == 400 and "whole number" in too_large.json()["error"]["detail"]
        async with served.http.stream("GET", "/api/events", headers={"Last-Event-ID": str(2**63 - 1)}) as ok:
            assert ok.status_code == 200


async def test_bad_input_is_never_echoed_whole(tmp_path: Path) -> None:
    async with api(tmp_path, over_http=True) as served:
        model = "m" * 1_000_000
        response = await served.http.post("/api/ai/queue", json={"model": model, "prompt": "x"})
        assert response.status_code == 400 and len(response.content) < 2000
        assert "1000000 characters" in response.text
        for length, rule in ((3_000, "at most 2048"), (100_000, "at most 8192")):
            long_url = "https://cdn.example.com/" + "a" * length
            body = {"model": "ltx-2-3-pro", "prompt": "x", "input_image": long_url}
            refused = await served.http.post("/api/ai/queue", json=body)
            assert refused.status_code == 400 and rule in refused.text and len(refused.content) < 2000


TEXT_FIELDS = {"oxen": "input_video", "fal": "video_url", "ltx": "video_uri", "openai": "size"}
"""A text field of each surface's submit route that has no tighter rule of its own before the body's."""


@pytest.mark.parametrize("surface", SURFACES)
async def test_text_longer_than_any_field_takes_is_refused_naming_the_field_whatever_its_way_in(
    tmp_path: Path, surface: str, caplog: pytest.LogCaptureFixture
) -> None:
    route, body = SURFACES[surface]
    field = TEXT_FIELDS[surface]
    long = "x" * (MAX_TEXT + 1)
    async with api(tmp_path, over_http=True) as served:
        with caplog.at_level(logging.ERROR):
            as_json = await served.http.post(route, json={**body, field: long})
            as_form = await served.http.post(route, data={**body, field: long}, files={"f": ("f", b"1")})
            as_name = await served.http.post(route, json={**body, "x" * 100_000: 1})
            nested = await served.http.post(route, json={**body, "extra": [{"deep": long}]})
        for response in (as_json, as_form):
            assert 400 <= response.status_code < 500 and envelope_of(surface, response.json()), response.text
            assert f"at most {MAX_TEXT}" in response.text and field in response.text
        assert f"at most {MAX_TEXT}" in as_name.text and len(as_name.content) < 2000
        assert 400 <= nested.status_code < 500 and "deep" in nested.text, "a nested field is named too"
        assert not await asyncio.to_thread(served.service.store.list_jobs, LOCAL_OWNER)
        root = served.service.storage.local_root
        assert root is not None and not [path for path in root.rglob("*") if path.is_file()]
    assert "Traceback" not in caplog.text


async def test_the_text_limit_is_exact_and_data_uris_are_bounded_by_bytes_instead(tmp_path: Path) -> None:
    async with api(tmp_path, over_http=True) as served:
        body = {"model": "ltx-2-3-pro", "prompt": "x"}
        at_limit = await served.http.post("/api/ai/queue", json={**body, "note": "n" * MAX_TEXT})
        assert at_limit.json()["error"]["field"] == "note" and "unknown parameter" in at_limit.text
        over = await served.http.post("/api/ai/queue", json={**body, "note": "n" * (MAX_TEXT + 1)})
        assert over.json()["error"]["field"] == "note" and f"at most {MAX_TEXT}" in over.text
        noise = np.random.default_rng(0).integers(0, 256, (180, 320, 3), dtype=np.uint8)
        png = write_image(tmp_path / "noise.png", noise, "png", "image2").read_bytes()
        image = "data:image/png;base64," + base64.b64encode(png).decode()
        assert len(image) > 10 * MAX_TEXT
        taken = await served.http.post("/api/ai/queue", json={**body, "input_image": image})
        assert taken.status_code == 200, taken.text


MEDIA_FIELDS = {"oxen": "input_video", "fal": "video_url", "ltx": "video_uri"}
"""Each surface's media field in its SURFACES body (OpenAI's body there has none)."""


@pytest.mark.parametrize("surface", MEDIA_FIELDS)
@pytest.mark.parametrize("host", ["127.1", "0x7f000001", "2130706433", "0177.0.0.1", "0", "10.1"])
async def test_loopback_and_private_addresses_in_other_spellings_are_refused_at_submit(
    tmp_path: Path, host: str, surface: str
) -> None:
    route, body = SURFACES[surface]
    async with api(tmp_path, over_http=True, provider_input_rules=False) as served:
        response = await served.http.post(
            route, json={**body, MEDIA_FIELDS[surface]: f"https://{host}/v.mp4"}
        )
        assert 400 <= response.status_code < 500 and envelope_of(surface, response.json()), response.text
        assert "private or reserved" in response.text
        assert not await asyncio.to_thread(served.service.store.list_jobs, LOCAL_OWNER)


async def test_a_client_gone_mid_upload_is_one_line_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with api(tmp_path, over_http=True) as served:
        url = served.http.base_url
        with caplog.at_level(logging.INFO):
            _, writer = await asyncio.open_connection(url.host, url.port)
            writer.write(
                b"POST /api/uploads HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 10
            )
            await writer.drain()
            writer.close()
            await writer.wait_closed()
            for _ in range(200):
                if "went away" in caplog.text:
                    break
                await asyncio.sleep(0.01)
    assert caplog.text.count("the client went away while sending its request") == 1
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize(
    ("route", "fields"),
    [
        ("/api/ai/queue", {"model": "nope"}),
        ("/fal/queue/fal-ai/ltx-2.3/retake-video", {"prompt": "x", "start_time": "-1"}),
        ("/v2/retake", {"start_time": "1"}),
        ("/v1/videos", {"prompt": "x", "size": "wide"}),
    ],
)
async def test_a_refused_multipart_submission_keeps_none_of_its_files(
    tmp_path: Path, route: str, fields: dict[str, str]
) -> None:
    async with api(tmp_path, over_http=True) as served:
        files = [(name, ("clip.mp4", b"\x00" * 1000, "video/mp4")) for name in ("a", "b", "c")]
        response = await served.http.post(route, data=fields, files=files)
        assert 400 <= response.status_code < 500, response.text
        root = served.service.storage.local_root
        assert root is not None
        assert not [path for path in root.rglob("*") if path.is_file()], "no upload was kept"


NUMBERS_IN_QUERIES = {
    "oxen-list": ("GET", "/api/ai/queue", "limit", "oxen"),
    "oxen-events": ("GET", "/api/events", "after", "oxen"),
    "oxen-resume": ("GET", "/api/events", "Last-Event-ID", "oxen"),
    "openai-list": ("GET", "/v1/videos", "limit", "openai"),
    "fal-status": ("GET", "/fal/queue/fal-ai/ltx-2.3/requests/{id}/status", "logs", "fal"),
    "fal-stream": ("GET", "/fal/queue/fal-ai/ltx-2.3/requests/{id}/status/stream", "logs", "fal"),
    "files": ("GET", "/files/results/x/video.mp4", "expires", "plain"),
}
"""Every place a route reads a number (or a flag) from the query or a header."""


HOSTILE_NUMBERS = ["²", "٣", "9" * 5000, "1e999", "-1", "NaN", "\x00"]


@pytest.mark.parametrize("place", NUMBERS_IN_QUERIES)
async def test_numbers_in_queries_and_headers_are_4xx_in_the_routes_envelope(
    tmp_path: Path, place: str, caplog: pytest.LogCaptureFixture
) -> None:
    method, route, name, surface = NUMBERS_IN_QUERIES[place]
    async with api(tmp_path, over_http=True) as served:
        if "{id}" in route:
            submitted = await served.http.post(
                "/fal/queue/fal-ai/ltx-2.3/text-to-video", json={"prompt": "x"}
            )
            route = route.replace("{id}", submitted.json()["request_id"])
        query = {"expires": "1", "signature": "s"} if surface == "plain" else {}
        for value in HOSTILE_NUMBERS:
            raw = value.encode() if value != "\x00" else b"\xff\xfe"  # no header carries NUL; obs-text can
            header = {name.encode(): raw} if name[0].isupper() else {}
            params = query if header else {**query, name: value}
            with caplog.at_level(logging.ERROR):
                async with served.http.stream(method, route, params=params, headers=header) as sent:
                    body = b"" if sent.status_code < 300 else await sent.aread()
            if sent.status_code < 300:
                assert name == "logs", "fal reads its flag leniently: anything but 1 or true is off"
            else:
                assert 400 <= sent.status_code < 500, (value, body)
                surface_of = {"plain": "openai"}.get(surface, surface)  # the plain envelope: {"error": ...}
                assert envelope_of(surface_of, json.loads(body)), body
                assert len(body) < 4000
    assert "Traceback" not in caplog.text
