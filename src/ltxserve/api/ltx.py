"""The LTX API's surface, Lightricks' own shapes, translated to the Service.

- v1, synchronous: `POST /v1/{endpoint}` answers `200` with the video itself (`Content-Type`,
  `Content-Length`, `x-request-id`), streamed from storage;
- v2, asynchronous: `POST /v2/{endpoint}` answers `202` with `id` and `created_at`; `GET
  /v2/{endpoint}/{id}` is pending, processing, completed (`result.video_url`) or failed (`error`),
  kept 24 hours after it ends, then 404;
- `POST /v1/upload`: `upload_url` (a signed PUT, on this server or straight to the bucket),
  `storage_uri` (`ltx://uploads/<id>`, usable in every `*_uri` field), `expires_at`, `required_headers`.

Errors are Lightricks' envelope, `{"type": "error", "error": {"type", "message"}}`, with its statuses:
invalid input is a 400 `invalid_request_error` naming the field. Keys come as `Authorization: Bearer`.
"""

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from ltxserve.api.attended import wait_attended
from ltxserve.api.auth import Owner
from ltxserve.api.bodies import submitted_body
from ltxserve.api.dependencies import BaseUrl, IdempotencyKey, ServiceDep
from ltxserve.api.dialect import Dialect
from ltxserve.api.errors import ApiError, quoted, refused
from ltxserve.api.ltx_models import ENDPOINTS, UPLOAD_PREFIX
from ltxserve.api.service import QuotaExceededError, Service
from ltxserve.api.views import JobView
from ltxserve.catalog import Product
from ltxserve.database import JobState
from ltxserve.inputs import FetchError
from ltxserve.request import InvalidRequestError

KEPT = timedelta(hours=24)
"""How long a v2 job answers after it ends (Lightricks: 24 hours, then 404)."""
UPLOAD_LIFETIME = timedelta(hours=1)
STATUS = {JobState.QUEUED: "pending", JobState.RUNNING: "processing", JobState.SUCCEEDED: "completed",
          JobState.FAILED: "failed", JobState.CANCELLED: "failed"}  # fmt: skip
_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
          404: "not_found_error", 405: "invalid_request_error", 413: "request_too_large",
          422: "invalid_request_error", 429: "rate_limit_error", 500: "api_error",
          503: "service_unavailable", 504: "timeout_error"}  # fmt: skip
_CODE_TYPES = {"quota_exceeded": "concurrency_limit_error", "rate_limited": "rate_limit_error",
               "daily_limit_exceeded": "rate_limit_error"}  # fmt: skip


def _render_error(error: ApiError) -> dict[str, Any]:
    message = f"{error.field}: {error.message}" if error.field and error.field != "body" else error.message
    kind = _CODE_TYPES.get(error.code) or _TYPES.get(
        400 if error.status == 422 else error.status, "api_error"
    )
    return {"type": "error", "error": {"type": kind, "message": message}}


LTX = Dialect("ltx", _render_error, ("Bearer",), statuses={422: 400})
router = LTX.router()


def _endpoint(name: str) -> Product:
    product = ENDPOINTS.get(name)
    if product is None:
        raise ApiError(404, "not_found", f"no endpoint {quoted(name)}; one of {', '.join(ENDPOINTS)}")
    return product


async def _submit(
    service: Service, owner: str, product: Product, request: Request, idempotency_key: str | None
) -> str:
    async with submitted_body(request, service, owner) as body:
        try:
            (job_id,) = await service.submit(owner, LTX.name, product, body, idempotency_key=idempotency_key)
        except (InvalidRequestError, FetchError, QuotaExceededError) as error:
            raise refused(error) from None
    return job_id


def _failure(view: JobView) -> ApiError:
    if view.state is JobState.CANCELLED:
        return ApiError(500, "cancelled", f"request {view.id} was cancelled")
    error = view.error
    if error is not None and error.code == "invalid_input":
        product = ENDPOINTS.get(view.product)
        field = product.param_for(error.field) if product and error.field else error.field
        return ApiError(400, "invalid_params", error.message, field)
    return ApiError(500, "internal", error.message if error else "the generation failed")


# --- v1: the video as the answer -------------------------------------------------------------------


async def _generate(
    product: Product,
    request: Request,
    owner: str,
    service: Service,
    base_url: str,
    idempotency_key: str | None,
) -> StreamingResponse:
    job_id = await _submit(service, owner, product, request, idempotency_key)
    (view,) = await wait_attended(request, service, owner, [job_id], base_url)
    if not view.state.terminal:
        await service.cancel(owner, job_id)
        raise ApiError(
            504,
            "timeout",
            f"the video was not made within {service.settings.sync_timeout:g} s, so the request was "
            "cancelled; use /v2/ for long generations",
        )
    if view.result is None:
        raise _failure(view)
    return StreamingResponse(
        service.result_stream(view.result),
        media_type=view.result.content_type,
        headers={"Content-Length": str(view.result.bytes), "x-request-id": job_id},
    )


def _v1_route(product: Product) -> None:
    async def generate(
        request: Request,
        owner: Owner,
        service: ServiceDep,
        base_url: BaseUrl,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        return await _generate(product, request, owner, service, base_url, idempotency_key)

    router.add_api_route(
        f"/v1/{product.id}",
        generate,
        methods=["POST"],
        response_class=Response,
        summary=f"{product.id}: answers the video",
        openapi_extra={"requestBody": {"content": {"application/json": {"schema": product.schema()}}}},
        responses={200: {"content": {"video/mp4": {}}}},
        name=f"ltx_v1_{product.id}",
    )


for _product in ENDPOINTS.values():
    _v1_route(_product)


@router.post("/v1/upload")
async def upload(owner: Owner, service: ServiceDep, base_url: BaseUrl) -> dict[str, Any]:
    """A place to PUT a file (within the hour); refer to it as `storage_uri` in any `*_uri` field."""
    slot = await service.upload_slot(owner, base_url, UPLOAD_LIFETIME)
    return {
        "upload_url": slot.url,
        "storage_uri": UPLOAD_PREFIX + slot.id,
        "expires_at": _iso(slot.expires_at),
        "required_headers": {},
    }


# --- v2: a job to poll -----------------------------------------------------------------------------


@router.post("/v2/{endpoint}", status_code=202)
async def submit(
    endpoint: str, request: Request, owner: Owner, service: ServiceDep, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    job_id = await _submit(service, owner, _endpoint(endpoint), request, idempotency_key)
    return JSONResponse(
        {"id": job_id, "created_at": _iso(time.time())}, status_code=202, headers={"x-request-id": job_id}
    )


@router.get("/v2/{endpoint}/{job_id}")
async def status(
    endpoint: str, job_id: str, owner: Owner, service: ServiceDep, base_url: BaseUrl
) -> dict[str, Any]:
    missing = ApiError(
        404,
        "not_found",
        f"no {quoted(endpoint)} job {quoted(job_id)} (jobs are kept 24 hours after they end)",
    )
    view = await service.get(owner, job_id, base_url)
    if view is None or view.surface != LTX.name or view.product != endpoint:
        raise missing
    if view.finished_at is not None and time.time() > view.finished_at + KEPT.total_seconds():
        raise missing
    body: dict[str, Any] = {"id": view.id, "status": STATUS[view.state], "created_at": _iso(view.created_at)}
    if view.finished_at is not None:
        body["completed_at"] = _iso(view.finished_at)
    if view.state is JobState.SUCCEEDED and view.result is not None:
        body["result"] = {"video_url": view.result.url}
    elif view.state.terminal:
        body["error"] = _render_error(_failure(view))["error"]
    else:
        body["progress"] = view.progress
    return body


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")
