"""fal.ai's surface: its queue protocol and synchronous runs, translated to the Service.

As fal documents it and its clients (`fal-client`, `@fal-ai/client`) use it:
- `POST {queue}/{app_id}` submits: `request_id` and absolute `status_url`, `response_url` and
  `cancel_url`, which name the app by owner/alias without the endpoint's sub-path;
- `GET .../requests/{id}/status[?logs=1]`: IN_QUEUE (with `queue_position`), IN_PROGRESS, COMPLETED
  (with `metrics.inference_time`, and `error` when it failed); 202 until completed, 200 after;
- `GET .../requests/{id}/status/stream`: the same objects as server-sent events, closed after
  COMPLETED;
- `GET .../requests/{id}`: the endpoint's output; `PUT .../requests/{id}/cancel`;
- `POST {run}/{app_id}`: submit and wait, answered with the output.

`{queue}` and `{run}` are paths on this server (settings `fal_queue_path`, `fal_run_path`), so a
client whose host setting may carry a path (FAL_QUEUE_RUN_HOST, FAL_RUN_HOST) needs only that
changed. Errors are FastAPI's envelope, as fal's apps send it: `{"detail": ...}`, with the field's
location for 422s. Keys come as `Authorization: Key <key>` (or Bearer).
"""

import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import JSONResponse
from sse_starlette import EventSourceResponse, ServerSentEvent

from ltxserve.api.attended import wait_attended
from ltxserve.api.auth import Owner
from ltxserve.api.bodies import submitted_body
from ltxserve.api.dependencies import BaseUrl, IdempotencyKey, ServiceDep
from ltxserve.api.dialect import Dialect
from ltxserve.api.errors import ApiError, quoted, refused
from ltxserve.api.fal_models import ENDPOINTS, NOT_MODELLED, FalEndpoint
from ltxserve.api.service import QuotaExceededError, Service
from ltxserve.api.views import JobView, ResultView
from ltxserve.api.webhooks import Call, Signer
from ltxserve.catalog import Product
from ltxserve.database import JobState
from ltxserve.inputs import FetchError
from ltxserve.jobs.events import SubscriberOverflowError
from ltxserve.jobs.store import Event
from ltxserve.jobs.webhooks import Callback
from ltxserve.media import OutputFormat
from ltxserve.request import InvalidRequestError

STATUS = {JobState.QUEUED: "IN_QUEUE", JobState.RUNNING: "IN_PROGRESS"}
"""Every other state is COMPLETED."""
EXTENSIONS = {container.content_type: container.value for container in OutputFormat}
KEEP_ALIVE = ServerSentEvent(comment="keep-alive")


def _render_error(error: ApiError) -> dict[str, Any]:
    """FastAPI's envelope: a 422 lists each field at fault by its location in the body."""
    if error.status == 422:
        problems = error.details or [{"field": error.field or "body", "message": error.message}]
        return {"detail": [_problem(problem["field"], problem["message"]) for problem in problems]}
    return {"detail": error.message, "error_type": error.code}


def _problem(field: str, message: str) -> dict[str, Any]:
    """`field` is a body field's dotted path, or query.NAME for a query parameter."""
    location: list[str | int] = [int(part) if part.isdigit() else part for part in field.split(".")]
    if location[0] != "query":
        location.insert(0, "body")
    return {"loc": location, "msg": message, "type": "value_error"}


FAL = Dialect("fal", _render_error, ("Key", "Bearer"))
queue = FAL.router()
run = FAL.router()


# --- submitting ------------------------------------------------------------------------------------


def _endpoint(app_id: str) -> FalEndpoint:
    endpoint = ENDPOINTS.get(app_id.strip("/"))
    if endpoint is None:
        raise ApiError(
            404, "not_found", f"application {quoted(app_id)} not found; one of {', '.join(ENDPOINTS)}"
        )
    return endpoint


async def _submit(
    service: Service,
    owner: str,
    endpoint: FalEndpoint,
    request: Request,
    base_url: str,
    idempotency_key: str | None,
) -> str:
    hook = request.query_params.get("fal_webhook")
    callback = Callback(hook, base_url) if hook is not None else None
    async with submitted_body(request, service, owner) as body:
        try:
            (job_id,) = await service.submit(
                owner, FAL.name, endpoint.product, body, webhook=callback, idempotency_key=idempotency_key
            )
        except (InvalidRequestError, FetchError, QuotaExceededError) as error:
            raise refused(error, lambda name: "query.fal_webhook" if name == "webhook" else name) from None
    return job_id


def _app(app_id: str) -> str:
    """owner/alias: what follow-up URLs name (fal drops the endpoint's sub-path)."""
    return "/".join(app_id.strip("/").split("/")[:2])


def _urls(service: Service, base_url: str, app: str, job_id: str) -> dict[str, str]:
    root = (service.settings.public_url or base_url).rstrip("/")
    response = f"{root}{service.settings.fal_queue_path}/{app}/requests/{job_id}"
    return {"response_url": response, "status_url": f"{response}/status", "cancel_url": f"{response}/cancel"}


@queue.post("/{app_id:path}")
async def submit(
    app_id: str,
    request: Request,
    owner: Owner,
    service: ServiceDep,
    base_url: BaseUrl,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Always IN_QUEUE, as fal answers a submission, even if a worker has already taken it."""
    endpoint = _endpoint(app_id)
    job_id = await _submit(service, owner, endpoint, request, base_url, idempotency_key)
    view = await _view(service, owner, job_id, base_url)
    urls = _urls(service, base_url, _app(endpoint.id), job_id)
    body: dict[str, Any] = {"status": "IN_QUEUE", "request_id": job_id, **urls, "logs": None, "metrics": {},
                            "queue_position": view.queue_position or 0}  # fmt: skip
    if "fal_webhook" in request.query_params:
        body["gateway_request_id"] = job_id
    return _answer(body, job_id)


@run.post("/{app_id:path}")
async def run_sync(
    app_id: str,
    request: Request,
    owner: Owner,
    service: ServiceDep,
    base_url: BaseUrl,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Submit and wait: answered with the output, or the job's failure as an error."""
    endpoint = _endpoint(app_id)
    job_id = await _submit(service, owner, endpoint, request, base_url, idempotency_key)
    (view,) = await wait_attended(request, service, owner, [job_id], base_url)
    if not view.state.terminal:
        raise ApiError(504, "request_timeout", f"request {job_id} is still running; it stays in the queue")
    return await _answer_once(service, view)


async def _answer_once(service: Service, view: JobView) -> JSONResponse:
    """The output; a sync_mode one carries the video itself, so the server keeps no copy after it."""
    answer = _answer(await _output(service, view), view.id)
    if view.params.get("sync_mode") and view.result is not None:
        await service.discard_result(view.id)
    return answer


def _answer(body: dict[str, Any], request_id: str, status_code: int = 200) -> JSONResponse:
    """fal's clients read the request's id from this header (the JS client's `result.requestId`)."""
    return JSONResponse(body, status_code=status_code, headers={"x-fal-request-id": request_id})


# --- following -------------------------------------------------------------------------------------


async def _view(service: Service, owner: str, request_id: str, base_url: str) -> JobView:
    view = await service.get(owner, request_id, base_url)
    if view is None:
        raise ApiError(404, "not_found", f"request {request_id} not found")
    return view


def _status(view: JobView, urls: Mapping[str, str], logs: list[dict[str, Any]] | None) -> dict[str, Any]:
    status = STATUS.get(view.state, "COMPLETED")
    body: dict[str, Any] = {"status": status, "request_id": view.id, **urls, "logs": logs, "metrics": {}}
    if status == "IN_QUEUE":
        body["queue_position"] = view.queue_position or 0
    elif status == "IN_PROGRESS":
        body["progress"] = {
            "percent": view.progress,
            "stage": view.stage,
            "step": view.step,
            "total": view.total,
        }
    else:
        if view.started_at is not None and view.finished_at is not None:
            body["metrics"] = {"inference_time": round(view.finished_at - view.started_at, 3)}
        if view.state is JobState.FAILED:
            body |= {"error": _failure(view), "error_type": view.error.code if view.error else "internal"}
        elif view.state is JobState.CANCELLED:
            body |= {"error": "the request was cancelled", "error_type": "request_cancelled"}
    return body


def _wants_logs(logs: str | None) -> bool:
    return logs is not None and logs.lower() in ("1", "true", "yes")


LogsQuery = Annotated[str | None, Query(description="1 or true: include the request's log lines.")]


@queue.get("/{owner_name}/{alias}/requests/{request_id}/status")
async def status(
    owner_name: str,
    alias: str,
    request_id: str,
    owner: Owner,
    service: ServiceDep,
    base_url: BaseUrl,
    logs: LogsQuery = None,
) -> JSONResponse:
    view = await _view(service, owner, request_id, base_url)
    lines = await _logs(service, view) if _wants_logs(logs) else None
    body = _status(view, _urls(service, base_url, f"{owner_name}/{alias}", request_id), lines)
    return _answer(body, request_id, 200 if body["status"] == "COMPLETED" else 202)


@queue.get("/{owner_name}/{alias}/requests/{request_id}/status/stream")
async def status_stream(
    owner_name: str,
    alias: str,
    request_id: str,
    owner: Owner,
    service: ServiceDep,
    base_url: BaseUrl,
    logs: LogsQuery = None,
) -> EventSourceResponse:
    """Each change of the request as a status object; the stream ends after COMPLETED."""
    await _view(service, owner, request_id, base_url)
    urls = _urls(service, base_url, f"{owner_name}/{alias}", request_id)
    with_logs = _wants_logs(logs)

    async def stream() -> AsyncIterator[ServerSentEvent]:
        while True:
            with service.hub.subscribe(owner) as subscription:
                view = await _view(service, owner, request_id, base_url)  # after subscribing: no gap
                lines = await _logs(service, view) if with_logs else None
                yield ServerSentEvent(json.dumps(_status(view, urls, lines)))
                if view.state.terminal:
                    return
                with contextlib.suppress(SubscriberOverflowError):
                    while (await subscription.next()).job_id != request_id:
                        pass

    return EventSourceResponse(
        stream(),
        ping=service.settings.sse_ping_seconds,
        ping_message_factory=lambda: KEEP_ALIVE,
        headers={"x-fal-request-id": request_id},
    )


@queue.get("/{owner_name}/{alias}/requests/{request_id}")
async def result(
    owner_name: str, alias: str, request_id: str, owner: Owner, service: ServiceDep, base_url: BaseUrl
) -> Any:
    return await _answer_once(service, await _view(service, owner, request_id, base_url))


@queue.put("/{owner_name}/{alias}/requests/{request_id}/cancel")
async def cancel(
    owner_name: str, alias: str, request_id: str, owner: Owner, service: ServiceDep
) -> JSONResponse:
    """A queued request is removed at once, a running one stops at its next step."""
    state = await service.cancel(owner, request_id)
    if state is None:
        return JSONResponse({"status": "NOT_FOUND"}, status_code=404)
    if state in (JobState.SUCCEEDED, JobState.FAILED):
        return JSONResponse({"status": "ALREADY_COMPLETED"}, status_code=400)
    return JSONResponse({"status": "CANCELLATION_REQUESTED"}, status_code=202)


# --- rendering -------------------------------------------------------------------------------------


def _product(view: JobView) -> Product | None:
    """The product of a fal job; None for a job another surface made."""
    endpoint = ENDPOINTS.get(view.product) if view.surface == FAL.name else None
    return endpoint.product if endpoint else None


def _field(view: JobView, request_field: str | None) -> str:
    product = _product(view)
    if request_field is None:
        return "body"
    return product.param_for(request_field) if product else request_field


def _failure(view: JobView) -> str:
    if view.error is None:
        return "failed"
    if view.error.field is None:
        return view.error.message
    return f"{_field(view, view.error.field)}: {view.error.message}"


async def _output(service: Service, view: JobView) -> dict[str, Any]:
    """The endpoint's output: `video` (a fal File with the video's shape), `seed`, and `prompt`: the
    one the video was made from (Gemma's, when the request had it expanded)."""
    if view.result is not None and view.result.expired_at is not None:
        raise ApiError(404, "result_expired", f"request {view.id}'s output is gone: {view.result.gone}")
    if view.result is not None and view.result.key is None:
        raise ApiError(
            410, "result_discarded", f"request {view.id} asked for sync_mode: its output was answered once "
            "as a data URI and is not kept",
        )  # fmt: skip
    if view.result is not None:
        video = await _file(service, view, view.result)
        prompt = view.result.notes.get("expanded_prompt", view.params.get("prompt", ""))
        return {"video": video, "seed": view.result.seed, "prompt": prompt}
    if view.state is JobState.FAILED and view.error is not None:
        if view.error.code == "invalid_input":
            raise ApiError(422, "invalid_params", view.error.message, _field(view, view.error.field))
        raise ApiError(500, "internal", view.error.message)
    if view.state is JobState.CANCELLED:
        raise ApiError(400, "request_cancelled", f"request {view.id} was cancelled")
    raise ApiError(400, "in_progress", f"request {view.id} is still in progress")


async def _file(service: Service, view: JobView, made: ResultView) -> dict[str, Any]:
    url = made.url
    if view.params.get("sync_mode"):
        data = base64.b64encode(await service.result_bytes(made)).decode()
        url = f"data:{made.content_type};base64,{data}"
    return {
        "url": url,
        "content_type": made.content_type,
        "file_name": f"{view.id}.{EXTENSIONS.get(made.content_type, 'bin')}",
        "file_size": made.bytes,
        "width": made.width,
        "height": made.height,
        "fps": None if made.fps is None else float(made.fps),
        "duration": made.duration,
        "num_frames": made.frames,
    }


async def _logs(service: Service, view: JobView) -> list[dict[str, Any]]:
    """The request's story as log lines: what it asked for that this server does not model, its
    queueing, each step, what was decided (seed, sizes, context, window) and how it ended."""
    lines = [
        _line(view.created_at, f"{name}: {why}", "WARNING")
        for name, why in NOT_MODELLED.items()
        if view.surface == FAL.name and view.params.get(name) not in (None, False, "none")
    ]
    for event in await service.history(view.owner, view.id):
        message = _event_message(view, event)
        if message is not None:
            lines.append(_line(event.ts, *message))
    return lines


def _event_message(view: JobView, event: Event) -> tuple[str, str] | None:
    data = event.data
    match event.type:
        case JobState.QUEUED:
            return "queued", "INFO"
        case JobState.RUNNING:
            return f"started (attempt {data.get('attempt', 1)})", "INFO"
        case "progress":
            return f"{data.get('stage')}: step {data.get('step')}/{data.get('total')}", "INFO"
        case "requeued":
            return f"queued again: {data.get('reason', 'its worker was lost')}", "WARNING"
        case "cancel_requested":
            return "cancellation requested", "INFO"
        case JobState.CANCELLED:
            return "cancelled", "INFO"
        case JobState.FAILED:
            return f"failed: {_failure(view)}", "ERROR"
        case JobState.SUCCEEDED:
            return _made(data), "INFO"
    return None


def _made(result: Mapping[str, Any]) -> str:
    decided = ", ".join(f"{name} {value}" for name, value in result.get("notes", {}).items())
    return (
        f"done: {result.get('width')}x{result.get('height')}, {result.get('frames')} frames at "
        f"{result.get('fps')} fps ({result.get('duration')} s), seed {result.get('seed')}; decided: {decided}"
    )


def _line(timestamp: float, message: str, level: str) -> dict[str, Any]:
    when = datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")
    return {"message": message, "level": level, "source": "user", "timestamp": when}


async def webhook_call(service: Service, view: JobView, signer: Signer) -> Call:
    """fal's webhook: the request's ids, OK with the output as `payload`, or ERROR with the error
    and the error's body as `payload`; signed over id, owner, time and body, as fal signs."""
    body: dict[str, Any] = {"request_id": view.id, "gateway_request_id": view.id}
    try:
        body |= {"status": "OK", "payload": await _output(service, view)}
    except ApiError as error:
        body |= {
            "status": "ERROR",
            "error": f"Invalid status code: {error.status}",
            "payload": _render_error(error),
        }
    data = json.dumps(body).encode()
    timestamp = int(time.time())
    headers = {
        "X-Fal-Webhook-Request-Id": view.id,
        "X-Fal-Webhook-User-Id": view.owner,
        "X-Fal-Webhook-Timestamp": str(timestamp),
        "X-Fal-Webhook-Signature": signer.sign(view.id, view.owner, timestamp, data),
    }
    return Call(data, headers)
