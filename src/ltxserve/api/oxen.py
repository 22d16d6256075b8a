"""The Oxen.ai surface: its routes, field names, statuses and envelopes, translated to the Service.

Oxen names media fields `input_image` / `input_video`, the retake window `retake_*`, and the
resolution tiers `2k` / `4k`; it reports `processing` where the queue says running. Everything else
is the catalog's, passed through. Additions Oxen clients can ignore: `progress`, `queue_position`,
`attempts`, `cost`, `output` (what was made) and `demo` on generations; status and progress events on
the event stream, with ids to resume from (`Last-Event-ID`).
"""

import base64
import json
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Header, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from ltxserve.api.attended import wait_attended
from ltxserve.api.auth import Owner
from ltxserve.api.bodies import submitted_body, whole_number
from ltxserve.api.dependencies import BaseUrl, IdempotencyKey, ServiceDep
from ltxserve.api.dialect import Dialect
from ltxserve.api.equivalents import fal_call
from ltxserve.api.errors import ApiError, quoted, refused
from ltxserve.api.oxen_models import MODELS, RELEASED, OxenModel
from ltxserve.api.service import QuotaExceededError, Service
from ltxserve.api.views import JobView, ResultView
from ltxserve.catalog import ParamsError, Product
from ltxserve.database import JobState
from ltxserve.inputs import FetchError
from ltxserve.jobs.store import Event
from ltxserve.request import InvalidRequestError, client_json

STATUS = {JobState.QUEUED: "queued", JobState.RUNNING: "processing", JobState.SUCCEEDED: "succeeded",
          JobState.FAILED: "failed", JobState.CANCELLED: "cancelled"}  # fmt: skip
STATES = {name: state for state, name in STATUS.items()}
ENVELOPE = {"model", "num_generations", "target_namespace", "response_format", "task"}
"""Request fields about the call itself, not the model's parameters."""
MAX_GENERATIONS = 4
MAX_LISTED = 1000
MAX_EVENT_ID = 2**63 - 1
"""The database's largest event id (a signed 64-bit integer)."""
KEEP_ALIVE = ServerSentEvent(comment="keep-alive")
RELEASED_AT = datetime.fromtimestamp(RELEASED, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class _Names:
    """How one model's parameters are spelled on Oxen."""

    fields: Mapping[str, str]
    """Oxen name -> catalog name, where they differ."""
    tasks: tuple[str, ...]
    """Values the fixed `task` field may take; the first is the documented one."""
    values: Mapping[str, Mapping[Any, Any]] = field(default_factory=dict)
    """catalog name -> {Oxen value: catalog value}, where they differ."""

    def to_catalog(self, name: str) -> str:
        return self.fields.get(name, name)

    def to_oxen(self, name: str) -> str:
        return next((oxen for oxen, catalog in self.fields.items() if catalog == name), name)

    def value_in(self, name: str, value: Any) -> Any:
        mapping = self.values.get(name, {})
        return mapping.get(value, value) if isinstance(value, str) else value

    def value_out(self, name: str, value: Any) -> Any:
        return next((oxen for oxen, own in self.values.get(name, {}).items() if own == value), value)


_TIERS = {"resolution": {"2k": "1440p", "4k": "2160p"}}
_IMAGES = {"input_image": "image"}
_VIDEO = {"input_video": "video"}
NAMES = {
    "ltx-2-3-pro": _Names(_IMAGES, ("image_to_video", "text_to_video"), _TIERS),
    "ltx-2-3-pro-text-to-video": _Names({}, ("text_to_video",), _TIERS),
    "ltx-2-3-fast": _Names(_IMAGES, ("image_to_video", "text_to_video"), _TIERS),
    "ltx-2-3-pro-extend-video": _Names(_VIDEO, ("extend",)),
    "ltx-2-3-pro-audio-to-video": _Names({**_IMAGES, "input_audio": "audio"}, ("audio_to_video",)),
    "ltx-2-3-pro-retake": _Names(
        {**_VIDEO, "retake_start_time": "start_time", "retake_duration": "duration", "retake_mode": "mode"},
        ("retake",),
    ),
}


_FOREIGN = _Names({}, ())
"""A job another surface made: its parameters are shown with the catalog's names."""


TITLES = {
    "invalid_params": "Invalid parameters supplied, please check your request and try again.",
    "resource_not_found": "The requested resource could not be found",
    "unauthenticated": "Authentication required: send a valid API key as a Bearer token",
}


def _render_error(error: ApiError) -> dict[str, Any]:
    """Oxen's envelope: {"error": {type, title, detail}, "status": "error", "status_message": type};
    `field` (and `errors` when there are several) added."""
    body: dict[str, Any] = {"type": error.code, "title": TITLES.get(error.code, error.message)}
    if error.code in TITLES and error.code != "resource_not_found":
        body["detail"] = str(error)
    if error.field is not None:
        body["field"] = error.field
    if error.details:
        body["errors"] = error.details
    return {"error": body, "status": "error", "status_message": error.code}


OXEN = Dialect("oxen", _render_error, statuses={422: 400})
router = OXEN.router()


def _invalid(message: str, field: str | None, details: list[dict[str, str]] | None = None) -> ApiError:
    return ApiError(400, "invalid_params", message, field, details)


# --- submitting ------------------------------------------------------------------------------------


def _model(body: Mapping[str, Any]) -> tuple[OxenModel, _Names]:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _invalid("required", "model")
    if model not in MODELS:
        raise _invalid(f"unknown model {quoted(model)}; one of {', '.join(MODELS)}", "model")
    return MODELS[model], NAMES[model]


def _params(body: Mapping[str, Any], names: _Names) -> dict[str, Any]:
    task = body.get("task")
    if task is not None and task not in names.tasks:
        raise _invalid(f"must be {' or '.join(names.tasks)} for this model", "task")
    params = {}
    for name, value in body.items():
        if name not in ENVELOPE:
            own = names.to_catalog(name)
            params[own] = names.value_in(own, value)
    return params


async def _submit(
    service: Service, owner: str, body: Mapping[str, Any], count: int, idempotency_key: str | None
) -> tuple[OxenModel, list[str]]:
    model, names = _model(body)
    with _refusals(names):
        params = _params(body, names)
        return model, await service.submit(
            owner, OXEN.name, model.product, params, count, idempotency_key=idempotency_key
        )


@contextmanager
def _refusals(names: _Names) -> Iterator[None]:
    """A refusal of the parameters in Oxen's envelope, naming the field as Oxen names it."""
    try:
        yield
    except ParamsError as error:
        details = [{"field": names.to_oxen(name), "message": message} for name, message in error.errors]
        raise _invalid(error.message, names.to_oxen(error.field), details) from None
    except (InvalidRequestError, FetchError) as error:
        name = error.field if isinstance(error, InvalidRequestError) else "body"
        message = error.message if isinstance(error, InvalidRequestError) else str(error)
        raise _invalid(message, names.to_oxen(name)) from None
    except QuotaExceededError as error:
        raise refused(error) from None


def _count(body: Mapping[str, Any]) -> int:
    count = body.get("num_generations", 1)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_GENERATIONS:
        raise _invalid(
            f"num_generations must be an integer between 1 and {MAX_GENERATIONS}", "num_generations"
        )
    return count


@router.post("/api/ai/queue")
async def enqueue(
    request: Request, owner: Owner, service: ServiceDep, idempotency_key: IdempotencyKey = None
) -> dict[str, Any]:
    async with submitted_body(request, service, owner) as body:
        _, ids = await _submit(service, owner, body, _count(body), idempotency_key)
    return {"generations": [{"generation_id": job_id, "status": "queued"} for job_id in ids]}


@router.post("/api/ai/plan")
async def plan(request: Request, owner: Owner, service: ServiceDep, base_url: BaseUrl) -> dict[str, Any]:
    """ltxserve's own: what a generation with these parameters would decide once its inputs are read,
    without queueing it: the model's size and length, an extend's context, a retake's window snapped to
    latent frames and to audio frames (`video_window_seconds`, `audio_window_seconds`); and the request
    in ltxserve's own terms (which OpenAI's surface takes as it is), and fal's endpoint and arguments
    that make the same request (null where fal has none). Media as upload:// references. The workbench
    draws the plan on the source's timeline, and writes the request into its OpenAI and fal calls."""
    async with submitted_body(request, service, owner) as body:
        model, names = _model(body)
        with _refusals(names):
            params = _params(body, names)
            asked, plan = await service.plan(owner, model.product, params)
    fal = fal_call(model.product, params, asked)
    host = urlsplit(base_url).netloc
    settings = service.settings
    return {"model": model.id, "plan": plan, "request": client_json(asked),
            "fal": None if fal is None else {"endpoint": fal[0], "arguments": fal[1],
                                             "queue_host": host + settings.fal_queue_path,
                                             "run_host": host + settings.fal_run_path}}  # fmt: skip


@router.post("/api/ai/videos/generate")
async def generate(
    request: Request,
    owner: Owner,
    service: ServiceDep,
    base_url: BaseUrl,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Synchronous: queue the generations, wait for them, answer with the videos."""
    async with submitted_body(request, service, owner) as body:
        response_format = body.get("response_format", "url")
        if response_format not in ("url", "b64_json"):
            raise _invalid("response_format must be url or b64_json", "response_format")
        model, ids = await _submit(service, owner, body, _count(body), idempotency_key)
    videos: list[dict[str, Any]] = []
    finished = await wait_attended(request, service, owner, ids, base_url)
    for view in finished:
        result = _succeeded(view)
        if response_format == "b64_json":
            videos.append({"b64_json": base64.b64encode(await service.result_bytes(result)).decode()})
        else:
            videos.append({"url": result.url})
    return {
        "model": model.id,
        "created": int(max(view.finished_at or view.created_at for view in finished)),
        "videos": videos,
        "generation_ids": ids,
        "cost": round(sum(_cost(view) or 0.0 for view in finished), 4),
    }


def _succeeded(view: JobView) -> ResultView:
    """The result, or the job's end as an error."""
    if view.result is not None:
        return view.result
    if view.error is not None:
        if view.error.code == "invalid_input":
            raise _invalid(view.error.message, _field(view.surface, view.product, view.error.field))
        raise ApiError(500, "unknown_error", view.error.message)
    if view.state is JobState.CANCELLED:
        raise ApiError(409, "cancelled", f"generation {view.id} was cancelled")
    raise ApiError(
        504, "timeout", f"generation {view.id} is still {STATUS[view.state]}; poll /api/ai/queue/{view.id}"
    )


def _spec(surface: str, product: str) -> Product | None:
    """The product of an Oxen job; None for a job another surface made."""
    model = MODELS.get(product) if surface == OXEN.name else None
    return model.product if model else None


def _names(surface: str, product: str) -> _Names:
    return NAMES[product] if _spec(surface, product) is not None else _FOREIGN


def _field(surface: str, product: str, request_field: str | None) -> str | None:
    """A GenerationRequest field as Oxen names it: through the parameter it came from."""
    if request_field is None:
        return None
    spec = _spec(surface, product)
    return _names(surface, product).to_oxen(spec.param_for(request_field) if spec else request_field)


def _cost(view: JobView) -> float | None:
    """The price: set at submit, or (priced by the source video) from the result."""
    spec = _spec(view.surface, view.product)
    if view.cost is not None or spec is None or view.result is None:
        return view.cost
    return spec.cost(spec.params.model_validate(view.params), view.result)


# --- looking up ------------------------------------------------------------------------------------


def _item(view: JobView) -> dict[str, Any]:
    names = _names(view.surface, view.product)
    echoed = {names.to_oxen(name): names.value_out(name, value) for name, value in view.params.items()}
    message = None
    if view.error is not None:
        message = view.error.message
        field_name = _field(view.surface, view.product, view.error.field)
        if field_name:
            message = f"{field_name}: {message}"
    progress = None
    if view.stage:
        progress = {"stage": view.stage, "step": view.step, "total": view.total, "percent": view.progress}
    item: dict[str, Any] = {
        "generation_id": view.id,
        "model_name": view.product,
        "model": view.product,
        "media_type": "video",
        "status": STATUS[view.state],
        **echoed,
        "result_url": view.result.url if view.result else None,
        "error_message": message,
        "enqueued_at": int(view.created_at),
        "started_at": _seconds(view.started_at),
        "completed_at": _seconds(view.finished_at),
        "target_namespace": None,
        "target_repo": None,
        "target_directory": None,
        "progress": progress,
        "queue_position": view.queue_position,
        "attempts": view.attempts,
        "cost": _cost(view),
    }
    if view.result is not None:
        item |= {"output": view.result.described(), "demo": view.result.demo}
    return item


def _seconds(timestamp: float | None) -> int | None:
    return None if timestamp is None else int(timestamp)


@router.get("/api/ai/queue")
async def list_generations(
    owner: Owner,
    service: ServiceDep,
    base_url: BaseUrl,
    status: Annotated[list[str] | None, Query()] = None,
    model: str | None = None,
    media_type: str | None = None,
    namespace: str | None = None,
    limit: str = "100",
    before: Annotated[str | None, Query(description="Only generations queued before this one.")] = None,
) -> dict[str, Any]:
    """Active generations (queued, processing) unless `status` asks for others (repeat it or
    separate with commas); the newest `limit` (at most 1000). `has_more` says older ones follow:
    ask again with `before` = the last generation_id."""
    count = whole_number(limit, MAX_LISTED)
    if not count:
        raise _invalid(f"limit must be an integer between 1 and {MAX_LISTED}", "limit")
    wanted = [name.strip() for value in status or [] for name in value.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in STATES]
    if unknown:
        raise _invalid(f"unknown status {quoted(unknown[0])}; one of {', '.join(STATES)}", "status")
    states = [STATES[name] for name in wanted] or [JobState.QUEUED, JobState.RUNNING]
    if media_type not in (None, "video"):
        return {"count": 0, "generations": [], "has_more": False}
    page = await service.list_jobs(owner, states, model, count, base_url, before)
    return {"count": len(page.views), "generations": [_item(view) for view in page.views],
            "has_more": page.has_more}  # fmt: skip


@router.get("/api/ai/queue/{generation_id}")
async def get_generation(
    generation_id: str, owner: Owner, service: ServiceDep, base_url: BaseUrl
) -> dict[str, Any]:
    view = await service.get(owner, generation_id, base_url)
    if view is None:
        raise ApiError(404, "resource_not_found", f"no generation {generation_id}")
    return _item(view)


@router.delete("/api/ai/queue/{generation_id}")
async def cancel_generation(generation_id: str, owner: Owner, service: ServiceDep) -> dict[str, Any]:
    """Cancel: a queued generation at once, a running one at its next step; an ended one stays as it is."""
    state = await service.cancel(owner, generation_id)
    if state is None:
        raise ApiError(404, "resource_not_found", f"no generation {generation_id}")
    return {"status": "success", "generation_id": generation_id}


# --- events ----------------------------------------------------------------------------------------


def _event(event: Event, service: Service, base_url: str) -> ServerSentEvent:
    common = {"generation_id": event.job_id, "media_type": "video", "model": event.model}
    kind, data = event.type, event.data
    if kind == JobState.SUCCEEDED:
        payload = {**common, "status": "succeeded", "url": service.result_url(data, base_url)}
        name = "media_generation_completed"
    elif kind == JobState.FAILED:
        message = data.get("message", "failed")
        field_name = _field(event.surface, event.model, data.get("field"))
        if field_name:
            message = f"{field_name}: {message}"
        payload, name = {**common, "status": "failed", "error": message}, "media_generation_completed"
    elif kind == "progress":
        payload, name = {**common, "status": "processing", **data}, "media_generation_progress"
    else:
        # Oxen itself sends nothing when a generation is cancelled; here it is a status event.
        status = {"queued": "queued", "requeued": "queued", "cancelled": "cancelled"}.get(kind, "processing")
        payload, name = {**common, "status": status, "event": kind, **data}, "media_generation_status"
    # compact, as Oxen sends it: clients match '"generation_id":"<id>"' in the raw data line
    return ServerSentEvent(json.dumps(payload, separators=(",", ":")), event=name, id=str(event.seq))


class _RenderCache:
    """Each event encoded once per base URL, however many of its owner's streams send it: with
    hundreds of listeners the encoding (and a result link's signature) would otherwise dominate."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._encoded: OrderedDict[tuple[int, str], bytes] = OrderedDict()

    def get(self, event: Event, service: Service, base_url: str) -> bytes:
        key = (event.seq, base_url)
        encoded = self._encoded.get(key)
        if encoded is None:
            encoded = self._encoded[key] = _event(event, service, base_url).encode()
            if len(self._encoded) > self._size:
                self._encoded.popitem(last=False)
        return encoded


_RENDERED = _RenderCache()


@router.get("/api/events")
async def events(
    owner: Owner,
    service: ServiceDep,
    base_url: BaseUrl,
    last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[str | None, Query(description="Resume after this event id (as Last-Event-ID).")] = None,
) -> EventSourceResponse:
    """Server-sent events for this key's generations: `media_generation_completed` when one ends,
    and `media_generation_status` / `media_generation_progress` on the way."""
    resume = None
    for name, given in (("after", after), ("Last-Event-ID", last_event_id)):
        if given is not None:
            resume = whole_number(given, MAX_EVENT_ID)
            if resume is None:
                raise _invalid(f"{name} must be an event id (a whole number up to {MAX_EVENT_ID})", name)

    events = service.events(owner, resume)  # from now, not from when the body starts

    async def stream() -> AsyncIterator[bytes]:
        async for batch in events:
            yield b"".join(_RENDERED.get(event, service, base_url) for event in batch)

    return EventSourceResponse(
        stream(), ping=service.settings.sse_ping_seconds, ping_message_factory=lambda: KEEP_ALIVE
    )


# --- models ----------------------------------------------------------------------------------------


def _oxen_schema(model: OxenModel) -> dict[str, Any]:
    names = NAMES[model.id]
    schema = model.product.schema()
    properties = {}
    for name, prop in schema["properties"].items():
        if "enum" in prop:
            prop = {**prop, "enum": [names.value_out(name, value) for value in prop["enum"]]}
        if "default" in prop:
            prop = {**prop, "default": names.value_out(name, prop["default"])}
        properties[names.to_oxen(name)] = prop
    properties["task"] = {"type": "string", "enum": list(names.tasks), "default": names.tasks[0],
                          "description": "The generation task (fixed for this model)"}  # fmt: skip
    required = [names.to_oxen(name) for name in schema.get("required", [])]
    return {**schema, "properties": properties, "required": required}


def _model_object(model: OxenModel, with_schema: bool) -> dict[str, Any]:
    described = {**model.to_json(), "endpoint": "/videos/generate", "model_type": "base",
                 "summary": model.display_name, "released_at": RELEASED_AT}  # fmt: skip
    if with_schema:
        schema = _oxen_schema(model)
        described |= {"request_schema": schema, "json_request_schema": schema}
    return described


@router.get("/api/ai/models")
async def list_models(_: Owner) -> dict[str, Any]:
    return {"object": "list", "data": [_model_object(model, with_schema=True) for model in MODELS.values()]}


@router.get("/api/ai/models/{model_id}")
async def get_model(model_id: str, _: Owner) -> dict[str, Any]:
    if model_id not in MODELS:
        raise ApiError(404, "resource_not_found", f"no model {model_id}; one of {', '.join(MODELS)}")
    return _model_object(MODELS[model_id], with_schema=True)
