"""The API in-process: the real app (routes, auth, store, storage, event hub) over ASGI, without a
server, for tests of shapes. With `worker=True` a real Worker runs queued jobs on a thread with the
sketch renderer: inputs fetched and probed, the request planned as the engine plans it, and a test
pattern of the planned size, rate and length written in its place (no model: seconds, not minutes).
Otherwise jobs are moved through their states with the store, as a worker would."""

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from ltxserve import media
from ltxserve.api.app import create_app
from ltxserve.api.service import Service
from ltxserve.engine.planning import (
    ChainedExtendPlan,
    ExtendPlan,
    GenerationPlan,
    RetakePlan,
    decided_by_inputs,
    plan_request,
)
from ltxserve.engine.progress import DECODING, CancelledError, CancelToken, Progress, ProgressCallback
from ltxserve.inputs import Fetcher, InputResolver
from ltxserve.jobs.worker import Worker
from ltxserve.media.testsrc import synthetic_clip
from ltxserve.request import GenerationRequest
from ltxserve.settings import Settings, WorkerSettings
from tests.servers import free_port


@dataclass(frozen=True)
class Api:
    http: httpx.AsyncClient
    service: Service


@dataclass(frozen=True)
class Sketch:
    info: media.MediaInfo
    seed: int
    demo: bool = True
    notes: dict[str, object] = field(default_factory=dict)


EXPANDED = "(expanded by the sketch)"
"""What the sketch adds to a prompt it is asked to expand: no Gemma here, only the plumbing."""


class SketchRenderer:
    """The planned output's shape without the model: what the engine would make, as a test pattern."""

    def render(
        self, request: GenerationRequest, output: Path, progress: ProgressCallback, cancel: CancelToken
    ) -> Sketch:
        infos = {field: media.probe(ref.path) for field, ref in request.media_inputs.items()}
        request = decided_by_inputs(request, infos)
        source = infos.get("extend.video") or infos.get("retake.video")
        plan = plan_request(request, source.video if source else None)
        fps = plan.clip.fps
        sound = request.generate_audio or request.audio is not None
        if isinstance(plan, GenerationPlan):
            width, height, frames = plan.output_size.width, plan.output_size.height, plan.output_frames
        else:
            assert source is not None and source.video is not None
            width, height = source.video.display_width, source.video.display_height
            frames = source.video.frame_count
            sound = source.audio is not None
            if isinstance(plan, ExtendPlan | ChainedExtendPlan):
                assert request.extend is not None
                frames = frames + plan.new_frames if request.extend.keep_source else plan.new_frames
        steps = plan.clip.latent_frames
        for step in range(1, steps + 1):
            if cancel.cancelled:
                raise CancelledError
            progress(Progress("denoising", step, steps, DECODING * step / steps))
        clip = synthetic_clip(width, height, frames, Fraction(fps), sample_rate=48_000 if sound else None)
        media.encode_clip(output, clip, request.output)
        seed = request.seed if request.seed is not None else 7
        notes: dict[str, object] = {"seed": seed, "model_frames": plan.clip.frames}
        if request.expand_prompt:
            notes["expanded_prompt"] = f"{request.prompt} {EXPANDED}"
        if isinstance(plan, RetakePlan) and plan.window is not None:
            notes["video_window_frames"] = [plan.window.start, plan.window.stop]
        return Sketch(media.probe(output), seed, notes=notes)


@asynccontextmanager
async def api(
    data_dir: Path, *, worker: bool = False, over_http: bool = False, **settings: object
) -> AsyncIterator[Api]:
    """No auth unless asked: every caller is the local owner. `over_http`: the app is served by
    uvicorn on a local port and the client speaks real HTTP to it (for tests about HTTP itself:
    streamed bodies, headers, multipart as SDKs send it)."""
    options = Settings(**{"data_dir": data_dir, "auth": False, **settings})  # type: ignore[arg-type]
    app = create_app(options, None)
    async with _running(app, over_http) as base_url:
        service: Service = app.state.service
        running = None
        if worker:
            running = Worker(
                service.store,
                service.storage,
                InputResolver(Fetcher(options.fetch), service.storage, options.lora_cache),
                SketchRenderer(),
                WorkerSettings(lease_seconds=30, poll_seconds=0.02, scratch=data_dir),
            )
            thread = threading.Thread(target=running.run, name="worker", daemon=True)
            thread.start()
        try:
            transport = None if over_http else httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=base_url, timeout=60) as http:
                yield Api(http, service)
        finally:
            if running is not None:
                running.stop()
                thread.join()


@asynccontextmanager
async def _running(app: FastAPI, over_http: bool) -> AsyncIterator[str]:
    """The app started (its lifespan run), and the base URL that reaches it."""
    if not over_http:
        async with app.router.lifespan_context(app):
            yield "http://ltxserve.test"
        return
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # a server that could not start says why
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        await task


@contextmanager
def served_in_thread(data_dir: Path, **settings: object) -> Iterator[tuple[str, Service]]:
    """The app served by uvicorn on its own thread and event loop, for synchronous clients (requests,
    schemathesis): its base URL and Service. No auth unless asked, as `api`."""
    options = Settings(**{"data_dir": data_dir, "auth": False, **settings})  # type: ignore[arg-type]
    app = create_app(options, None)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, name="api", daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the API did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.config.port}", app.state.service
    finally:
        server.should_exit = True
        thread.join()
