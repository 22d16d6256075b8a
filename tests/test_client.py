"""ltxserve's Python client against a server over real HTTP (uvicorn, a worker drawing the planned
output's shape): a retake and an extend of an ordinary clip from a local file, followed by polling
and by server-sent events, downloaded; an earlier result as the next input; cancel; a refusal as a
typed error naming the field; a failed job; a lost answer retried into one job; 429 and 503 waited
out as the server asks."""

import asyncio
import socket
import time
from pathlib import Path

import httpx
import pytest

from ltxserve import media
from ltxserve.client import ApiError, AsyncClient, Client, JobFailedError, JobStatus, _keyed
from tests.inprocess import api

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_the_client_retakes_and_extends_a_local_clip_and_follows_each_way(
    tmp_path: Path, clip: Path
) -> None:
    async with api(tmp_path, worker=True, over_http=True) as served:
        url = str(served.http.base_url)

        def retake_then_extend() -> tuple[list[JobStatus], list[JobStatus]]:
            seen: list[JobStatus] = []
            with Client(url, poll=0.05) as client:
                retake = client.retake(clip, start=1, duration=2, prompt="rain")
                done = retake.wait(on_progress=seen.append)
                assert done.state == "succeeded" and done.result_url is not None
                retake.download(tmp_path / "retake.mp4")
                extended = client.extend(retake, "rain goes on", duration=2)  # the earlier result as input
                streamed = list(extended.events())
                extended.download(tmp_path / "extend.mp4")
            return seen, streamed

        polled, streamed = await asyncio.to_thread(retake_then_extend)
        assert polled[0].state in ("queued", "processing") and polled[-1].state == "succeeded"
        assert any(status.stage for status in polled), "progress on the way"
        assert streamed[-1].state == "succeeded" and streamed[-1].result_url
        percents = [status.percent for status in streamed if status.stage]
        assert len(percents) > 3 and percents == sorted(percents), "each step, in order"
        retaken, extended = media.probe(tmp_path / "retake.mp4"), media.probe(tmp_path / "extend.mp4")
        assert retaken.video is not None and retaken.audio is not None
        assert (retaken.video.width, retaken.video.height, retaken.video.frame_count) == (320, 180, 96)
        assert extended.video is not None and extended.video.frame_count == 96 + 48


async def test_the_async_client_follows_events_cancels_and_names_what_it_refuses(
    tmp_path: Path, clip: Path
) -> None:
    async with (
        api(tmp_path, worker=True, over_http=True) as served,
        AsyncClient(str(served.http.base_url), poll=0.05) as client,
    ):
        job = await client.retake(clip, 1, 2, "rain")
        states = [status.state async for status in job.events()]
        assert states[-1] == "succeeded" and "processing" in states
        await job.download(tmp_path / "async.mp4")
        assert media.probe(tmp_path / "async.mp4").video is not None
        with pytest.raises(ApiError) as refused:
            await client.retake(clip, 1, 1, "too short a window")
        assert refused.value.status == 400 and refused.value.field == "retake_duration"
        with pytest.raises(JobFailedError) as failed:
            await (await client.retake(tmp_path / "async.mp4", start=3.9, duration=2, prompt="rain")).wait()
        assert failed.value.job.state == "failed" and failed.value.field == "retake_duration"
        queued = await client.generate("a cat", duration=6)  # 1080p: still being drawn when cancelled
        await queued.cancel()
        with pytest.raises(JobFailedError) as cancelled:
            await queued.wait()
        assert cancelled.value.job.state == "cancelled"


class LosesAnswers(httpx.HTTPTransport):
    """Real HTTP, but the first answer to each submission is lost on its way back (the server did
    the work), and the first of any other request is a 503 with Retry-After: 1."""

    def __init__(self) -> None:
        super().__init__()
        self.lost: list[str] = []
        self.refused = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not self.refused and request.method == "GET":
            self.refused = True
            return httpx.Response(503, headers={"Retry-After": "1"}, json={"error": {"type": "busy"}})
        response = super().handle_request(request)
        if request.url.path == "/api/ai/queue" and request.method == "POST" and not self.lost:
            response.read()
            self.lost.append(request.headers["Idempotency-Key"])
            raise httpx.ReadError("connection reset", request=request)
        return response


async def test_a_submission_whose_answer_is_lost_is_retried_into_one_job_and_503_is_waited_out(
    tmp_path: Path,
) -> None:
    async with api(tmp_path, over_http=True) as served:
        transport = LosesAnswers()

        def submit_and_look() -> tuple[str, float]:
            with Client(str(served.http.base_url), transport=transport) as client:
                job = client.generate("a cat", duration=6)
                started = time.monotonic()
                client.job(job.id).status()
                return job.id, time.monotonic() - started

        job_id, waited = await asyncio.to_thread(submit_and_look)
        assert transport.lost, "the first answer was lost"
        assert [job.id for job in served.service.store.list_jobs("local")] == [job_id], "one job"
        assert waited >= 1, "Retry-After honoured"


class DropsConnections(httpx.HTTPTransport):
    """Real HTTP, counting attempts; the next `drop` connections fail as a restarting server's do."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0
        self.drop = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.attempts += 1
        if self.drop:
            self.drop -= 1
            raise httpx.ConnectError("connection refused", request=request)
        return super().handle_request(request)


async def test_a_connection_lost_to_a_server_that_answered_is_retried_one_never_made_is_not(
    tmp_path: Path,
) -> None:
    async with api(tmp_path, over_http=True) as served:
        transport = DropsConnections()

        def restarted_in_between() -> str:
            with Client(str(served.http.base_url), transport=transport) as client:
                job = client.generate("a cat", duration=6)
                transport.drop = 2
                return client.job(job.id).status().state

        assert await asyncio.to_thread(restarted_in_between) == "queued"
        assert transport.attempts == 1 + 3
    nowhere = DropsConnections()
    with socket.socket() as unused:  # a port nothing listens on: the address a typo gives
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with (
        Client(f"http://127.0.0.1:{port}", transport=nowhere, retries=5) as client,
        pytest.raises(httpx.ConnectError),
    ):
        client.upload_bytes(b"frames")
    assert nowhere.attempts == 1, "said at once, not after five tries"


async def test_a_429_from_the_server_is_a_typed_error_with_its_retry_after(tmp_path: Path) -> None:
    async with api(tmp_path, over_http=True, auth=True, requests_per_minute_per_key=1) as served:
        keys = served.service.keys
        assert keys is not None
        _, secret = await asyncio.to_thread(keys.create, "patient")
        async with AsyncClient(str(served.http.base_url), secret, retries=0) as client:
            await client.generate("a cat", duration=6)
            with pytest.raises(ApiError) as limited:
                await client.generate("a cat", duration=6)
        assert limited.value.status == 429 and limited.value.code == "rate_limited"
        assert limited.value.retry_after is not None and 1 <= limited.value.retry_after <= 60


def test_the_key_goes_to_the_server_only_not_to_a_result_link_elsewhere() -> None:
    with Client("http://127.0.0.1:8000", "ltx_secret") as client:
        own = client._http.build_request("GET", "/api/ai/queue")
        assert own.headers["Authorization"] == "Bearer ltx_secret"
        served = _keyed(client._http, "GET", "http://127.0.0.1:8000/files/results/x?sig=1")
        bucket = _keyed(client._http, "GET", "https://bucket.s3.amazonaws.com/results/x?X-Amz-Signature=1")
        assert served.headers["Authorization"] == "Bearer ltx_secret"
        assert "Authorization" not in bucket.headers, "a presigned link carries its own signature"
