"""GET /metrics: Prometheus' text format, for a scraper on the operator's network (like /health it
takes no key): this process's metrics (in multiprocess mode, those of every process under `serve`;
see `ltxserve.metrics`), then the queue as the database has it, read at each scrape, so any API
instance reports all of it."""

import asyncio
import os
from collections.abc import Iterator

from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

from ltxserve.api.dependencies import ServiceDep
from ltxserve.api.dialect import PLAIN
from ltxserve.jobs.store import JobStore
from ltxserve.settings import METRICS_DIR_VARIABLE

router = PLAIN.router()


@router.get("/metrics", tags=["health"], response_class=Response)
async def exposition(service: ServiceDep) -> Response:
    lease = service.settings.worker.lease_seconds
    body = await asyncio.to_thread(_exposition, service.store, lease)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def _exposition(store: JobStore, lease_seconds: float) -> bytes:
    if os.environ.get(METRICS_DIR_VARIABLE):
        processes = CollectorRegistry()
        multiprocess.MultiProcessCollector(processes)  # type: ignore[no-untyped-call]
    else:
        processes = REGISTRY
    queue = CollectorRegistry()
    queue.register(_Queue(store, lease_seconds))
    return generate_latest(processes) + generate_latest(queue)


class _Queue(Collector):
    """The queue as the database has it, read at each scrape."""

    def __init__(self, store: JobStore, lease_seconds: float) -> None:
        self.store = store
        self.lease_seconds = lease_seconds

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily("ltxserve_jobs", "Jobs by state and model.", labels=["state", "model"])
        for (state, model), count in sorted(self.store.count_by_state_and_model().items()):
            jobs.add_metric([state, model], count)
        yield jobs
        yield GaugeMetricFamily(
            "ltxserve_workers_up",
            "Workers seen within a lease.",
            value=self.store.workers_up(self.lease_seconds),
        )
