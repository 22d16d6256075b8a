"""The CLI's generate, extend and retake run on a server (`--server`): local files uploaded, the
whole request submitted through `ltxserve.client`, its progress followed on the server's event stream,
the result downloaded. What is made is what a local run makes: the request is the same."""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ltxserve import media
from ltxserve.client import Client, JobStatus
from ltxserve.engine.progress import Progress, ProgressCallback
from ltxserve.request import GenerationRequest, MediaRef, client_json


@dataclass(frozen=True)
class Made:
    info: media.MediaInfo
    notes: Mapping[str, Any]
    demo: bool


def render_on(
    server: str, api_key: str | None, request: GenerationRequest, output: Path, progress: ProgressCallback
) -> Made:
    """Run `request` on `server`, writing its result to `output`. ApiError (JobFailedError) when the
    server refuses it or it fails, httpx.HTTPError when the server cannot be reached; an interrupt
    cancels the job on the server."""
    with Client(server, api_key) as client:
        uploads = {name: MediaRef(client.upload(ref.path))
                   for name, ref in request.media_inputs.items() if ref.is_local}  # fmt: skip
        job = client.submit_request(client_json(request.with_media(uploads)))
        try:
            for status in job.events():
                progress(_step(status))
            job.download(output)
        except KeyboardInterrupt:
            job.cancel()
            raise
        final = job.status()
    return Made(media.probe(output), (final.output or {}).get("notes", {}), final.demo)


def _step(status: JobStatus) -> Progress:
    if status.stage:
        return Progress(status.stage, status.step, status.total, status.percent / 100)
    if status.queue_position is not None:
        return Progress(f"queued, {status.queue_position} ahead", 0, 0)
    return Progress(status.state, 0, 0)
