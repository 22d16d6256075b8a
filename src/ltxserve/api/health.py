"""GET /health: is the server up, and what is it running (demo weights say so here)."""

from typing import Any

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
