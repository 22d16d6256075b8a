"""Health: `/health` says what the server runs (demo weights say so here); `/health/live` that the
process answers; `/health/ready` that it can do its work: the database and storage answer and at least
one worker is up (seen within a lease), else 503 naming what is not."""

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi.responses import JSONResponse

from ltxserve import __version__
from ltxserve.api.dependencies import ServiceDep
from ltxserve.api.dialect import PLAIN
from ltxserve.settings import DEMO_NOTICE

router = PLAIN.router()


@router.get("/health", tags=["health"])
async def health(service: ServiceDep) -> dict[str, Any]:
    weights = service.weights
    demo = weights is not None and weights.demo
    report: dict[str, Any] = {
        "status": "ok",
        "version": __version__,
        "demo": demo,
        "weights": "demo" if demo else str(weights.root) if weights else None,
        "database": service.store.engine.dialect.name,
        "storage": "local" if service.storage.local_root is not None else "s3",
        "auth": service.settings.auth,
    }
    if demo:
        report["notice"] = DEMO_NOTICE
    return report


@router.get("/health/live", tags=["health"])
async def live() -> dict[str, str]:
    return {"status": "live"}


@router.get("/health/ready", tags=["health"], responses={503: {"description": "Not ready: see `checks`."}})
async def ready(service: ServiceDep) -> JSONResponse:
    within = service.settings.worker.lease_seconds
    checks: dict[str, str] = {}
    workers, checks["database"] = await _check(lambda: service.store.workers_up(within))
    _, checks["storage"] = await _check(lambda: service.storage.size("health/ready"))
    if workers is None:
        checks["workers"] = "unknown: the database did not answer"
    else:
        checks["workers"] = "ok" if workers else f"no worker seen in the last {within:g} s"
    is_ready = all(value == "ok" for value in checks.values())
    body = {"status": "ready" if is_ready else "not_ready", "checks": checks, "workers": workers or 0}
    return JSONResponse(body, status_code=200 if is_ready else 503)


CHECK_SECONDS = 5.0
"""How long a readiness check may take (a bucket that does not answer is retried for minutes)."""


async def _check[T](probe: Callable[[], T]) -> tuple[T | None, str]:
    """What `probe` answered (run on a thread) and "ok", or None and what went wrong."""
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            return await asyncio.to_thread(probe), "ok"
    except TimeoutError:
        return None, f"no answer within {CHECK_SECONDS:g} s"
    except Exception as error:  # a readiness probe reports a failure instead of failing itself
        return None, f"{type(error).__name__}: {str(error)[:200]}"
