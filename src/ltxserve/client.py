"""A typed Python client for an ltxserve server (its Oxen-shaped API, the server's own).

    from ltxserve.client import Client

    with Client("http://127.0.0.1:8000", api_key) as client:
        job = client.retake("clip.mp4", start=1, duration=2, prompt="rain")
        job.wait(on_progress=print)
        job.download("rain.mp4")

Media arguments take a local path (uploaded for you), a URL or `upload://` reference, or an earlier
`Job` (its result). Every request is retried with backoff on 429 and 503 (honouring `Retry-After`) and
on a lost connection (a server never reached is an error at once: most likely a wrong address); a
submission carries an `Idempotency-Key`, so a retried one never makes two jobs. `AsyncClient` is the
same for asyncio.
"""

import asyncio
import json
import os
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import httpx

__all__ = ["ApiError", "AsyncClient", "AsyncJob", "Client", "Job", "JobFailedError", "JobStatus", "Media"]

ENDED = ("succeeded", "failed", "cancelled")
_REFERENCES = ("http://", "https://", "data:", "upload://")
_RETRIED_STATUSES = (429, 503)


class ApiError(Exception):
    """The server refused a request: its HTTP status, error type, message and the field at fault."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{status} {code}: {field + ': ' if field else ''}{message}")
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.retry_after: float | None = None
        """Seconds the server asked to wait (429, 503)."""


@dataclass(frozen=True)
class JobStatus:
    id: str
    state: str
    """queued, processing, succeeded, failed or cancelled."""
    model: str
    stage: str | None = None
    step: int = 0
    total: int = 0
    percent: int = 0
    queue_position: int | None = None
    result_url: str | None = None
    error: str | None = None
    output: Mapping[str, Any] | None = None
    """Once succeeded: what was made (width, height, fps, frames, duration, has_audio, seed, notes)."""
    demo: bool = False
    """Made by the tiny demo checkpoint: noise, not a video of the prompt."""

    @property
    def ended(self) -> bool:
        return self.state in ENDED

    @classmethod
    def of(cls, item: Mapping[str, Any]) -> "JobStatus":
        progress = item.get("progress") or {}
        return cls(
            item["generation_id"], item["status"], item["model"], progress.get("stage"),
            progress.get("step", 0), progress.get("total", 0), progress.get("percent", 0),
            item.get("queue_position"), item.get("result_url"), item.get("error_message"),
            item.get("output"), item.get("demo", False),
        )  # fmt: skip


class JobFailedError(ApiError):
    """The job ended without a result (failed or cancelled)."""

    def __init__(self, status: JobStatus) -> None:
        message = status.error or status.state
        field, _, reason = message.partition(": ") if ": " in message else ("", "", message)
        super().__init__(200, status.state, reason, field or None)
        self.job = status


def _error(response: httpx.Response) -> ApiError:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    # Oxen's envelope (submit, status), else OpenAI's (`submit_request`)
    field = error.get("field") or error.get("param")
    message = (error.get("detail") or error.get("title") or error.get("message") or response.text
               or response.reason_phrase)  # fmt: skip
    if field:
        message = message.removeprefix(f"{field}: ")
    failure = ApiError(response.status_code, error.get("type", "error"), message, field)
    retry_after = response.headers.get("Retry-After")
    if retry_after is not None and retry_after.isdigit():
        failure.retry_after = float(retry_after)
    return failure


def _backoff(attempt: int, error: Exception) -> float:
    """How long to wait before try `attempt` + 1: what the server asked, else 0.5 s doubling to 30 s,
    jittered so that clients refused together do not come back together."""
    asked = error.retry_after if isinstance(error, ApiError) else None
    return asked if asked is not None else min(30.0, 0.5 * 2**attempt) * random.uniform(0.5, 1.0)


def _retried(error: Exception, answered: bool) -> bool:
    if isinstance(error, ApiError):
        return error.status in _RETRIED_STATUSES
    if isinstance(error, httpx.ConnectError):
        # a server that answered before is restarting; one never reached is most likely a wrong address
        return answered
    return isinstance(error, httpx.TransportError)


def _media(value: object) -> str | None:
    """A reference as the server takes it, or None when `value` is a local file (or a Job)."""
    if isinstance(value, str) and value.startswith(_REFERENCES):
        return value
    return None


def _is_media(param: str) -> bool:
    """Whether an Oxen parameter takes media (a reference the client may first have to make)."""
    return param.startswith("input_") or param == "last_frame_image"


def _headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def _keyed(http: httpx.Client | httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Request:
    """The request, with the API key only when it goes to the server: a result link elsewhere (a
    presigned bucket URL) carries its own signature, and a bucket refuses a second kind of auth."""
    request = http.build_request(method, url, **kwargs)
    if request.url.netloc != http.base_url.netloc:
        request.headers.pop("Authorization", None)
    return request


def _generate(prompt: str, image: object, last_frame: object, params: dict[str, Any]) -> dict[str, Any]:
    return {"prompt": prompt or None, "input_image": image, "last_frame_image": last_frame, **params}


def _extend(video: object, prompt: str, duration: float, mode: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"input_video": video, "prompt": prompt or None, "duration": duration, "mode": mode, **params}


def _retake(
    video: object, start: float, duration: float, prompt: str, mode: str, params: dict[str, Any]
) -> dict[str, Any]:
    return {"input_video": video, "prompt": prompt or None, "retake_start_time": start,
            "retake_duration": duration, "retake_mode": mode, **params}  # fmt: skip


def _audio(audio: object, prompt: str, image: object, params: dict[str, Any]) -> dict[str, Any]:
    return {"input_audio": audio, "prompt": prompt or None, "input_image": image, **params}


VIDEOS = "/v1/videos"
MODELS = {"generate": "ltx-2-3-pro", "extend": "ltx-2-3-pro-extend-video", "retake": "ltx-2-3-pro-retake",
          "audio_to_video": "ltx-2-3-pro-audio-to-video"}  # fmt: skip
"""The model each helper asks for (the Oxen catalog's names); `submit` takes any."""


# --- synchronous ------------------------------------------------------------------------------------


class Client:
    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        retries: int = 5,
        poll: float = 1.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url, headers=_headers(api_key), timeout=timeout, transport=transport
        )
        self.retries = retries
        self._answered = False
        self.poll = poll
        """Seconds between status polls while waiting."""

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request, retried as the module says; ApiError for a refusal."""
        attempt = 0
        while True:
            try:
                response = self._http.send(_keyed(self._http, method, url, **kwargs))
                self._answered = True
                if response.is_error:
                    raise _error(response)
                return response
            except (ApiError, httpx.TransportError) as error:
                if not _retried(error, self._answered) or attempt >= self.retries:
                    raise
                time.sleep(_backoff(attempt, error))
                attempt += 1

    def upload(self, path: str | os.PathLike[str]) -> str:
        """Store a local file on the server; its upload:// reference."""
        return self.upload_bytes(Path(path).read_bytes())

    def _reference(self, value: "Media") -> str:
        if isinstance(value, Job):
            url = value.wait().result_url
            assert url is not None
            return self.upload_bytes(self.request("GET", url).content)
        return _media(value) or self.upload(value)

    def upload_bytes(self, content: bytes) -> str:
        return str(self.request("POST", "/api/uploads", content=content).json()["uri"])

    def submit(self, model: str, **params: Any) -> "Job":
        """Queue one generation of `model` with its parameters (media values as the helpers take them)."""
        body = {"model": model} | {
            name: self._reference(value) if _is_media(name) else value
            for name, value in params.items()
            if value is not None
        }
        headers = {"Idempotency-Key": uuid.uuid4().hex}  # the same on every retry of this submission
        answer = self.request("POST", "/api/ai/queue", json=body, headers=headers).json()
        return Job(self, answer["generations"][0]["generation_id"])

    def submit_request(self, request: Mapping[str, Any]) -> "Job":
        """Queue ltxserve's whole request (`GenerationRequest` as JSON, as `request.client_json` makes
        it: every knob the engine has, media as `{"uri": ...}` references), through the server's
        OpenAI-shaped route, which takes it as is."""
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        answer = self.request("POST", VIDEOS, json=dict(request), headers=headers).json()
        return Job(self, answer["id"])

    def generate(
        self,
        prompt: str,
        *,
        image: "Media | None" = None,
        last_frame: "Media | None" = None,
        model: str = MODELS["generate"],
        **params: Any,
    ) -> "Job":
        """Text-to-video, or image-to-video from `image` (and to `last_frame`)."""
        return self.submit(model, **_generate(prompt, image, last_frame, params))

    def extend(
        self, video: "Media", prompt: str = "", *, duration: float = 5, mode: str = "end", **params: Any
    ) -> "Job":
        """`duration` seconds more of `video`, at its end or start (`mode`)."""
        return self.submit(MODELS["extend"], **_extend(video, prompt, duration, mode, params))

    def retake(
        self,
        video: "Media",
        start: float,
        duration: float,
        prompt: str = "",
        *,
        mode: str = "replace_audio_and_video",
        **params: Any,
    ) -> "Job":
        """`video` with `duration` seconds from `start` made again."""
        return self.submit(MODELS["retake"], **_retake(video, start, duration, prompt, mode, params))

    def audio_to_video(
        self, audio: "Media", prompt: str = "", *, image: "Media | None" = None, **params: Any
    ) -> "Job":
        """A video made to `audio` (which it keeps)."""
        return self.submit(MODELS["audio_to_video"], **_audio(audio, prompt, image, params))

    def job(self, job_id: str) -> "Job":
        return Job(self, job_id)


@dataclass(frozen=True)
class Job:
    client: Client
    id: str

    def status(self) -> JobStatus:
        return JobStatus.of(self.client.request("GET", f"/api/ai/queue/{self.id}").json())

    def wait(self, on_progress: Callable[[JobStatus], object] | None = None) -> JobStatus:
        """Poll until the job ends, telling `on_progress` of each change; its final status, or
        JobFailedError."""
        last = None
        while True:
            status = self.status()
            if on_progress is not None and status != last:
                on_progress(status)
            last = status
            if status.ended:
                return _succeeded(status)
            time.sleep(self.client.poll)

    def events(self) -> Iterator[JobStatus]:
        """The job's status now, then each change as the server streams it (server-sent events), to its
        end."""
        with self.client._http.stream("GET", "/api/events") as response:
            if response.is_error:
                response.read()
                raise _error(response)
            status = self.status()
            yield status
            stream = _EventStream(self.id)
            for line in response.iter_lines():
                found = stream.feed(line)
                if found is _Line.KEEP_ALIVE:  # it may have ended before the stream began
                    found = self.status()
                    if not found.ended:
                        continue
                if isinstance(found, JobStatus):
                    yield found
                    if found.ended:
                        return

    def cancel(self) -> None:
        self.client.request("DELETE", f"/api/ai/queue/{self.id}")

    def download(self, path: str | os.PathLike[str]) -> Path:
        """Wait for the result and write it to `path`."""
        url = self.wait().result_url
        assert url is not None, "a succeeded job has a result"
        target = Path(path)
        target.write_bytes(self.client.request("GET", url).content)
        return target


def _succeeded(status: JobStatus) -> JobStatus:
    if status.state != "succeeded":
        raise JobFailedError(status)
    return status


class _Line(Enum):
    NOTHING = "nothing"
    KEEP_ALIVE = "keep-alive"


@dataclass
class _EventStream:
    """One job's statuses from the lines of the server's event stream. Parsed here rather than by
    httpx-sse, which drops comments: the server's keep-alive comments are when the client looks at
    the job again (it may have ended between the stream's start and its subscription)."""

    job_id: str
    _name: str = ""
    _data: list[str] = field(default_factory=list)

    def feed(self, line: str) -> JobStatus | _Line:
        if line.startswith(":"):
            return _Line.KEEP_ALIVE
        if line:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                self._name = value
            elif name == "data":
                self._data.append(value)
            return _Line.NOTHING
        data, self._data, self._name = "\n".join(self._data), [], ""
        payload = json.loads(data) if data else {}
        if payload.get("generation_id") != self.job_id:
            return _Line.NOTHING
        return JobStatus(
            self.job_id, payload.get("status", "processing"), payload.get("model", ""), payload.get("stage"),
            payload.get("step", 0), payload.get("total", 0), payload.get("progress", 0), None,
            payload.get("url"), payload.get("error"),
        )  # fmt: skip


# --- asyncio ----------------------------------------------------------------------------------------


class AsyncClient:
    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        retries: int = 5,
        poll: float = 1.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=_headers(api_key), timeout=timeout, transport=transport
        )
        self.retries = retries
        self._answered = False
        self.poll = poll

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = await self._http.send(_keyed(self._http, method, url, **kwargs))
                self._answered = True
                if response.is_error:
                    raise _error(response)
                return response
            except (ApiError, httpx.TransportError) as error:
                if not _retried(error, self._answered) or attempt >= self.retries:
                    raise
                await asyncio.sleep(_backoff(attempt, error))
                attempt += 1

    async def upload(self, path: str | os.PathLike[str]) -> str:
        content = await asyncio.to_thread(Path(path).read_bytes)
        return await self.upload_bytes(content)

    async def upload_bytes(self, content: bytes) -> str:
        return str((await self.request("POST", "/api/uploads", content=content)).json()["uri"])

    async def _reference(self, value: "AsyncMedia") -> str:
        if isinstance(value, AsyncJob):
            url = (await value.wait()).result_url
            assert url is not None
            return await self.upload_bytes((await self.request("GET", url)).content)
        return _media(value) or await self.upload(value)

    async def submit(self, model: str, **params: Any) -> "AsyncJob":
        body: dict[str, Any] = {"model": model}
        for name, value in params.items():
            if value is not None:
                body[name] = await self._reference(value) if _is_media(name) else value
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        answer = (await self.request("POST", "/api/ai/queue", json=body, headers=headers)).json()
        return AsyncJob(self, answer["generations"][0]["generation_id"])

    async def submit_request(self, request: Mapping[str, Any]) -> "AsyncJob":
        """As `Client.submit_request`."""
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        answer = (await self.request("POST", VIDEOS, json=dict(request), headers=headers)).json()
        return AsyncJob(self, answer["id"])

    async def generate(
        self,
        prompt: str,
        *,
        image: "AsyncMedia | None" = None,
        last_frame: "AsyncMedia | None" = None,
        model: str = MODELS["generate"],
        **params: Any,
    ) -> "AsyncJob":
        return await self.submit(model, **_generate(prompt, image, last_frame, params))

    async def extend(
        self, video: "AsyncMedia", prompt: str = "", *, duration: float = 5, mode: str = "end", **params: Any
    ) -> "AsyncJob":
        return await self.submit(MODELS["extend"], **_extend(video, prompt, duration, mode, params))

    async def retake(
        self,
        video: "AsyncMedia",
        start: float,
        duration: float,
        prompt: str = "",
        *,
        mode: str = "replace_audio_and_video",
        **params: Any,
    ) -> "AsyncJob":
        return await self.submit(MODELS["retake"], **_retake(video, start, duration, prompt, mode, params))

    async def audio_to_video(
        self, audio: "AsyncMedia", prompt: str = "", *, image: "AsyncMedia | None" = None, **params: Any
    ) -> "AsyncJob":
        return await self.submit(MODELS["audio_to_video"], **_audio(audio, prompt, image, params))

    def job(self, job_id: str) -> "AsyncJob":
        return AsyncJob(self, job_id)


@dataclass(frozen=True)
class AsyncJob:
    client: AsyncClient
    id: str

    async def status(self) -> JobStatus:
        return JobStatus.of((await self.client.request("GET", f"/api/ai/queue/{self.id}")).json())

    async def wait(self, on_progress: Callable[[JobStatus], object] | None = None) -> JobStatus:
        last = None
        while True:
            status = await self.status()
            if on_progress is not None and status != last:
                told = on_progress(status)
                if isinstance(told, Awaitable):
                    await told
            last = status
            if status.ended:
                return _succeeded(status)
            await asyncio.sleep(self.client.poll)

    async def events(self) -> AsyncIterator[JobStatus]:
        async with self.client._http.stream("GET", "/api/events") as response:
            if response.is_error:
                await response.aread()
                raise _error(response)
            status = await self.status()
            yield status
            stream = _EventStream(self.id)
            async for line in response.aiter_lines():
                found = stream.feed(line)
                if found is _Line.KEEP_ALIVE:
                    found = await self.status()
                    if not found.ended:
                        continue
                if isinstance(found, JobStatus):
                    yield found
                    if found.ended:
                        return

    async def cancel(self) -> None:
        await self.client.request("DELETE", f"/api/ai/queue/{self.id}")

    async def download(self, path: str | os.PathLike[str]) -> Path:
        url = (await self.wait()).result_url
        assert url is not None, "a succeeded job has a result"
        content = (await self.client.request("GET", url)).content
        target = Path(path)
        await asyncio.to_thread(target.write_bytes, content)
        return target


type Media = str | os.PathLike[str] | Job
"""A local path, a URL / data URI / upload:// reference, or an earlier job (its result)."""
type AsyncMedia = str | os.PathLike[str] | AsyncJob
