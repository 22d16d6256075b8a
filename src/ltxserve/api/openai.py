"""OpenAI's videos surface, as its API reference and its `openai` SDK use it, translated to the Service.

`POST /v1/videos` (JSON, or multipart with the `input_reference` file), `GET /v1/videos` (cursor
paging: `data`, `has_more`, `first_id`, `last_id`; `after`, `limit`, `order`), `GET /v1/videos/{id}`,
`GET /v1/videos/{id}/content?variant=video|thumbnail|spritesheet`, `DELETE /v1/videos/{id}`,
`POST /v1/videos/{id}/remix` (a new prompt over the same video: a retake of the whole clip) and
`GET /v1/models`. Errors are OpenAI's envelope, `{"error": {"message", "type", "param", "code"}}`.
"""

import asyncio
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Query, Request, Response
from fastapi.responses import StreamingResponse

from ltxserve import media
from ltxserve.api.auth import Owner
from ltxserve.api.bodies import submitted_body
from ltxserve.api.dependencies import BaseUrl, IdempotencyKey, ServiceDep
from ltxserve.api.dialect import Dialect
from ltxserve.api.errors import ApiError, quoted, refused
from ltxserve.api.openai_models import ALIASES, DEFAULT_MODEL, MODELS, VIDEOS, model_of, seconds_of
from ltxserve.api.service import QuotaExceededError, Service
from ltxserve.api.views import JobView
from ltxserve.database import JobState
from ltxserve.inputs import FetchError, upload_id
from ltxserve.request import InvalidRequestError

STATUS = {JobState.QUEUED: "queued", JobState.RUNNING: "in_progress", JobState.SUCCEEDED: "completed",
          JobState.FAILED: "failed", JobState.CANCELLED: "failed"}  # fmt: skip
MAX_LISTED = 100
RELEASED = 1772582400
"""2026-03-04, LTX-2.3's release: the models' `created` time."""
_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error",
          413: "invalid_request_error", 422: "invalid_request_error", 429: "rate_limit_exceeded",
          500: "server_error"}  # fmt: skip


def _render_error(error: ApiError) -> dict[str, Any]:
    param = error.field if error.field and error.field != "body" else None
    return {"error": {"message": error.message, "type": _TYPES.get(error.status, "server_error"),
                      "param": param, "code": error.code}}  # fmt: skip


OPENAI = Dialect("openai", _render_error, ("Bearer",), statuses={422: 400})
router = OPENAI.router()


async def _submit(service: Service, owner: str, body: dict[str, Any], idempotency_key: str | None) -> str:
    try:
        (job_id,) = await service.submit(owner, OPENAI.name, VIDEOS, body, idempotency_key=idempotency_key)
    except (InvalidRequestError, FetchError, QuotaExceededError) as error:
        raise refused(error) from None
    return job_id


async def _video(service: Service, owner: str, job_id: str, base_url: str) -> JobView:
    view = await service.get(owner, job_id, base_url)
    if view is None:
        raise ApiError(404, "video_not_found", f"no video {quoted(job_id)}", "video_id")
    return view


def _object(view: JobView, service: Service) -> dict[str, Any]:
    """OpenAI's video object; `seconds` and `size` what was made, once it is made."""
    params = view.params
    result = view.result
    size = params.get("size") or ""
    seconds = str(params.get("seconds", ""))
    if result is not None and result.width and result.height:
        size = f"{result.width}x{result.height}"
        seconds = f"{result.duration:g}" if result.duration is not None else seconds
    error = None
    if view.state in (JobState.FAILED, JobState.CANCELLED):
        message = view.error.message if view.error else "cancelled"
        error = {"code": view.error.code if view.error else "cancelled", "message": message}
    finished = int(view.finished_at) if view.finished_at is not None else None
    expires = None
    if view.state is JobState.SUCCEEDED and finished is not None:
        expires = finished + int(service.settings.file_lifetime.total_seconds())
    return {
        "id": view.id,
        "object": "video",
        "model": params.get("model", view.product),
        "status": STATUS[view.state],
        "progress": view.progress,
        "created_at": int(view.created_at),
        "completed_at": finished if view.state.terminal else None,
        "expires_at": expires,
        "seconds": seconds,
        "size": size,
        "error": error,
        "remixed_from_video_id": params.get("remixed_from_video_id"),
        "prompt": params.get("prompt"),
    }


@router.post("/v1/videos")
async def create(
    request: Request,
    owner: Owner,
    service: ServiceDep,
    base_url: BaseUrl,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    async with submitted_body(request, service, owner) as body:
        job_id = await _submit(service, owner, body, idempotency_key)
    return _object(await _video(service, owner, job_id, base_url), service)


@router.get("/v1/videos")
async def list_videos(
    owner: Owner,
    service: ServiceDep,
    base_url: BaseUrl,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LISTED)] = 20,
    order: Literal["asc", "desc"] = "desc",
) -> dict[str, Any]:
    """Your videos from every surface, newest first (`order=asc`: oldest first), after the cursor."""
    page = await service.list_jobs(owner, None, None, limit, base_url, after, oldest_first=order == "asc")
    data = [_object(view, service) for view in page.views]
    first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
    return {"object": "list", "data": data, "has_more": page.has_more, "first_id": first, "last_id": last}


@router.get("/v1/videos/{video_id}")
async def retrieve(video_id: str, owner: Owner, service: ServiceDep, base_url: BaseUrl) -> dict[str, Any]:
    return _object(await _video(service, owner, video_id, base_url), service)


@router.get("/v1/videos/{video_id}/content")
async def content(
    video_id: str,
    owner: Owner,
    service: ServiceDep,
    base_url: BaseUrl,
    variant: Literal["video", "thumbnail", "spritesheet"] = "video",
) -> Response:
    """The video itself, streamed from storage; or a still of it: its middle frame (thumbnail) or a
    grid of frames across it (spritesheet), as JPEG."""
    view = await _video(service, owner, video_id, base_url)
    result = view.result
    if result is None:
        raise ApiError(404, "video_not_ready", f"video {video_id} has no content ({STATUS[view.state]})")
    if result.key is None:
        raise ApiError(404, "video_expired", f"video {video_id} has no content: {result.gone}")
    if variant == "video":
        headers = {"Content-Length": str(result.bytes)}
        stream = service.result_stream(result)
        return StreamingResponse(stream, media_type=result.content_type, headers=headers)
    key = result.key
    with tempfile.TemporaryDirectory(prefix="ltxserve-still-") as scratch:
        video = await asyncio.to_thread(service.storage.download, key, Path(scratch) / "video")
        still = media.thumbnail if variant == "thumbnail" else media.spritesheet
        data = await asyncio.to_thread(still, video)
    return Response(data, media_type="image/jpeg")


@router.delete("/v1/videos/{video_id}")
async def delete(video_id: str, owner: Owner, service: ServiceDep, base_url: BaseUrl) -> dict[str, Any]:
    """Stops the video if it is still being made, and deletes it and its files."""
    await _video(service, owner, video_id, base_url)
    await service.delete(owner, video_id)
    return {"id": video_id, "object": "video.deleted", "deleted": True}


@router.post("/v1/videos/{video_id}/remix")
async def remix(
    video_id: str,
    request: Request,
    owner: Owner,
    service: ServiceDep,
    base_url: BaseUrl,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """A new video: the source's whole clip retaken (picture and sound) under the new prompt."""
    source = await _video(service, owner, video_id, base_url)
    if source.result is None or source.result.duration is None:
        raise ApiError(400, "video_not_ready", f"video {video_id} is not completed", "video_id")
    if source.result.key is None:
        message = f"video {video_id} cannot be remixed: {source.result.gone}"
        raise ApiError(400, "video_expired", message, "video_id")
    named = str(source.params.get("model", ""))
    model = model_of(named) if ALIASES.get(named, named) in MODELS else DEFAULT_MODEL  # another surface's
    async with submitted_body(request, service, owner) as body:
        video = await service.copy_to_upload(owner, source.result)
        retake = {
            "video": video,
            "start": 0,
            "duration": str(seconds_of(source.result.duration)),
            "clamp": True,
        }
        try:
            remixed = {**body, "model": model, "retake": retake, "remixed_from_video_id": video_id}
            job_id = await _submit(service, owner, remixed, idempotency_key)
        except ApiError:
            await service.delete_upload(owner, upload_id(video))
            raise
    return _object(await _video(service, owner, job_id, base_url), service)


@router.get("/v1/models")
async def models() -> dict[str, Any]:
    return {"object": "list", "data": [{"id": model, "object": "model", "created": RELEASED,
                                        "owned_by": "lightricks"} for model in MODELS]}  # fmt: skip
