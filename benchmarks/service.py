"""The service around a no-op engine, on SQLite and on PostgreSQL, side by side.

    .venv/bin/python benchmarks/service.py [--clients 50] [--requests 20] [--interval 0.5] [--listeners 200]

- submit and status: 50 clients over real HTTP to `ltxserve serve --workers 0`, each sending a request
  every 0.5 s (more often than the providers' SDKs poll) to POST /api/ai/queue (a retake, validated in
  full) and to GET /api/ai/queue/{id}: p50 and p99 against the targets (submit p99 <= 100 ms, status
  p99 <= 20 ms); then "flat out", each client sending its next request as soon as the last is
  answered: the server's capacity (requests per s), where latency is the queue of 50 clients over it.
  Baseline: GET /health the same ways (the HTTP floor).
- claim: one worker claiming (claim + finish) from 1000 queued jobs of 50 keys, with the fairness
  ordering; baseline: the same table claimed in plain arrival order.
- events: 200 SSE listeners on /api/events while a worker with a no-op engine runs 20 jobs; every
  listener must get every event; latency from a job's finish to each listener's completion event.
The PostgreSQL server is the Debian package, started here (as for the tests).
"""

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.servers import postgres_server
from tests.service import Serve

from ltxserve import media
from ltxserve.database import JobState, jobs, open_database, writing
from ltxserve.engine.progress import CancelToken, Progress, ProgressCallback
from ltxserve.inputs import Fetcher, InputResolver
from ltxserve.jobs.store import JobStore
from ltxserve.jobs.worker import RenderedOutput, Worker
from ltxserve.media.testsrc import synthetic_clip
from ltxserve.request import GenerationRequest
from ltxserve.settings import WorkerSettings
from ltxserve.storage import open_storage

RETAKE = {"model": "ltx-2-3-pro-retake", "prompt": "rain", "input_video": "https://example.com/clip.mp4"}
STEPS = 10


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


@dataclass(frozen=True)
class Rendered:
    info: media.MediaInfo
    seed: int = 0
    demo: bool = True

    @property
    def notes(self) -> dict[str, object]:
        return {}


class NoopRenderer:
    """Reports STEPS engine steps, `step_seconds` apart, and copies a ready-made clip: everything but
    the model."""

    def __init__(self, clip: Path, step_seconds: float = 0.0) -> None:
        self.clip = clip
        self.info = media.probe(clip)
        self.step_seconds = step_seconds

    def render(
        self, request: GenerationRequest, output: Path, progress: ProgressCallback, cancel: CancelToken
    ) -> RenderedOutput:
        for step in range(STEPS):
            progress(Progress("denoising", step, STEPS))
            time.sleep(self.step_seconds)
        shutil.copyfile(self.clip, output)
        return Rendered(self.info)


# --- submit and status -----------------------------------------------------------------------------


async def hammer(
    url: str, clients: int, each: int, method: str, path: str, body: Any = None, interval: float = 0.0
) -> list[float]:
    """Each of `clients` sends `each` requests, one every `interval` seconds (0: each as soon as the
    last is answered: the server's capacity). aiohttp: httpx spends 2-4 ms of CPU a request, so on two
    cores it measured mostly itself; aiohttp spends 0.2-0.5 ms."""
    latencies: list[float] = []
    async with aiohttp.ClientSession(url, connector=aiohttp.TCPConnector(limit=clients)) as session:

        async def one_client(index: int) -> None:
            await asyncio.sleep(interval * index / clients)  # paced clients start spread over one interval
            for _ in range(each):
                started = time.perf_counter()
                async with session.request(method, path, json=body) as response:
                    text = await response.text()
                    assert response.status == 200, text
                latencies.append(time.perf_counter() - started)
                await asyncio.sleep(max(0.0, interval - (time.perf_counter() - started)))

        await asyncio.gather(*(one_client(index) for index in range(clients)))
    return latencies


def measure_requests(serve: Serve, clients: int, each: int, interval: float) -> dict[str, float]:
    with httpx.Client(base_url=serve.url) as client:
        job = client.post("/api/ai/queue", json=RETAKE).json()["generations"][0]["generation_id"]
    routes = {
        "submit": ("POST", "/api/ai/queue", RETAKE),
        "status": ("GET", f"/api/ai/queue/{job}", None),
        "baseline GET /health": ("GET", "/health", None),
    }
    results: dict[str, float] = {}
    asyncio.run(hammer(serve.url, clients, 2, "GET", "/health"))  # connections opened
    for name, (method, path, body) in routes.items():
        paced = asyncio.run(hammer(serve.url, clients, each, method, path, body, interval))
        started = time.perf_counter()
        flat_out = asyncio.run(hammer(serve.url, clients, each, method, path, body))
        rate = len(flat_out) / (time.perf_counter() - started)
        results |= {
            f"{name} p50 ms": 1000 * percentile(paced, 0.5),
            f"{name} p99 ms": 1000 * percentile(paced, 0.99),
            f"{name} flat out p99 ms": 1000 * percentile(flat_out, 0.99),
            f"{name} flat out per s": rate,
        }
    return results


# --- claim ----------------------------------------------------------------------------------------


def fill(store: JobStore, count: int, owners: int) -> None:
    for index in range(count):
        store.enqueue(f"key{index % owners}", "oxen", "ltx-2-3-pro-retake", {}, {})


def fifo_claim(store: JobStore, worker: str) -> str | None:
    """The baseline: the oldest queued job, no fairness."""
    with writing(store.engine) as connection:
        pick = (
            sa.select(jobs.c.number).where(jobs.c.state == JobState.QUEUED).order_by(jobs.c.number).limit(1)
        )
        if store.postgres:
            pick = pick.with_for_update(skip_locked=True)
        number = connection.execute(pick).scalar()
        if number is None:
            return None
        row = connection.execute(
            jobs.update()
            .where(jobs.c.number == number)
            .values(state=JobState.RUNNING, worker_id=worker)
            .returning(jobs.c.id)
        ).one()
        return str(row.id)


def measure_claim(database: str, queued: int, owners: int) -> dict[str, float]:
    fair: list[float] = []
    store = JobStore(open_database(database))
    with writing(store.engine) as connection:
        connection.execute(jobs.delete())
    fill(store, queued, owners)
    while True:
        started = time.perf_counter()
        job = store.claim("bench", 60)
        fair.append(time.perf_counter() - started)
        if job is None:
            break
        store.finish(job.id, "bench", JobState.SUCCEEDED, result={})
    fifo: list[float] = []
    fill(store, queued, owners)
    while True:
        started = time.perf_counter()
        claimed = fifo_claim(store, "bench")
        fifo.append(time.perf_counter() - started)
        if claimed is None:
            break
        with writing(store.engine) as connection:
            connection.execute(jobs.update().where(jobs.c.id == claimed).values(state=JobState.SUCCEEDED))
    return {
        "claim p50 ms": 1000 * percentile(fair, 0.5),
        "claim p99 ms": 1000 * percentile(fair, 0.99),
        "baseline FIFO claim p50 ms": 1000 * percentile(fifo, 0.5),
        "baseline FIFO claim p99 ms": 1000 * percentile(fifo, 0.99),
    }


# --- events ---------------------------------------------------------------------------------------


async def listen(
    url: str, count: int, ready: asyncio.Event, expected: int, arrivals: list[dict[str, float]]
) -> None:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(120), limits=limits) as client:
        listeners_ready = 0

        async def one(index: int) -> None:
            nonlocal listeners_ready
            seen: dict[str, float] = {}
            async with client.stream("GET", "/api/events") as response:
                listeners_ready += 1
                if listeners_ready == count:
                    ready.set()
                name = ""
                async for line in response.aiter_lines():
                    if line.startswith("event: "):
                        name = line.removeprefix("event: ")
                    elif line.startswith("id: "):
                        seen[line.removeprefix("id: ")] = time.time()
                    elif line.startswith("data: ") and name == "media_generation_completed":
                        seen["done:" + json.loads(line.removeprefix("data: "))["generation_id"]] = time.time()
                    if len(seen) >= expected:
                        break
            arrivals[index] = seen

        await asyncio.gather(*(one(index) for index in range(count)))


def measure_events(
    serve: Serve, database: str, storage: str, listeners: int, count: int, clip: Path
) -> dict[str, float]:
    store = JobStore(open_database(database))
    with writing(store.engine) as connection:
        connection.execute(jobs.delete())  # the submit measurement's jobs, never meant to run
    files = open_storage(storage, b"bench")
    with httpx.Client(base_url=serve.url) as client:
        video = client.post("/api/uploads", content=clip.read_bytes()).json()["uri"]
    events_per_job = 1 + 1 + (1 + STEPS + 1) + 1  # queued, running, fetching + steps + storing, succeeded
    expected = count * events_per_job + count  # event ids, and one completion payload per job
    arrivals: list[dict[str, float]] = [{} for _ in range(listeners)]
    worker = Worker(
        store,
        files,
        InputResolver(Fetcher(), files),
        NoopRenderer(clip),
        WorkerSettings(lease_seconds=60, poll_seconds=0.01),
    )

    async def run() -> None:
        ready = asyncio.Event()
        listening = asyncio.create_task(listen(serve.url, listeners, ready, expected, arrivals))
        await asyncio.wait_for(ready.wait(), 60)
        await asyncio.sleep(0.5)
        async with httpx.AsyncClient(base_url=serve.url) as client:
            response = await client.post(
                "/api/ai/queue", json={**RETAKE, "input_video": video, "num_generations": 4}
            )
            ids = [g["generation_id"] for g in response.json()["generations"]]
            for _ in range(count // 4 - 1):
                response = await client.post(
                    "/api/ai/queue", json={**RETAKE, "input_video": video, "num_generations": 4}
                )
                ids += [g["generation_id"] for g in response.json()["generations"]]
        thread = threading.Thread(target=worker.run, kwargs={"max_jobs": count})
        thread.start()
        await asyncio.wait_for(listening, 300)
        thread.join()

    asyncio.run(run())
    finished = {job.id: job.finished_at for job in store.list_jobs("local", limit=count)}
    latencies = [
        arrival[f"done:{job_id}"] - done
        for arrival in arrivals
        for job_id, done in finished.items()
        if done is not None
    ]
    complete = sum(1 for arrival in arrivals if len(arrival) == expected)
    return {
        "listeners with every event": complete,
        "events per listener": expected - count,
        "completion delivery p50 ms": 1000 * percentile(latencies, 0.5),
        "completion delivery p99 ms": 1000 * percentile(latencies, 0.99),
    }


# --- running --------------------------------------------------------------------------------------


@contextmanager
def server(database: str, storage: str, weights: Path, data_dir: Path) -> Iterator[Serve]:
    args = [
        "--workers",
        "0",
        "--no-auth",
        "--data-dir",
        str(data_dir),
        "--weights",
        str(weights),
        "--database",
        database,
        "--storage",
        storage,
        "--max-unfinished",
        "1000000",
        "--log-level",
        "warning",
    ]
    with Serve(args, {}, data_dir / "serve.log") as serve:
        yield serve


def measure(
    name: str, database: str, root: Path, weights: Path, clip: Path, options: argparse.Namespace
) -> dict[str, float]:
    data_dir = root / name
    data_dir.mkdir()
    storage = str(data_dir / "files")
    results: dict[str, float] = {}
    with server(database, storage, weights, data_dir) as serve:
        print(f"{name}: submit and status", file=sys.stderr)
        results |= measure_requests(serve, options.clients, options.requests, options.interval)
        print(f"{name}: events", file=sys.stderr)
        results |= measure_events(serve, database, storage, options.listeners, options.jobs, clip)
    print(f"{name}: claim", file=sys.stderr)
    results |= measure_claim(database, options.queued, options.owners)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20, help="per client and route")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between a client's requests")
    parser.add_argument("--queued", type=int, default=1000)
    parser.add_argument("--owners", type=int, default=50)
    parser.add_argument("--listeners", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=20)
    options = parser.parse_args()
    from ltxserve.engine.tiny import ensure_tiny_weights

    root = Path(tempfile.mkdtemp(prefix="ltxserve-bench-"))
    weights = ensure_tiny_weights(root / "weights")
    clip = root / "clip.mp4"
    media.encode_clip(clip, synthetic_clip(320, 180, 96, Fraction(24)))
    try:
        sqlite = measure("sqlite", f"sqlite:///{root / 'bench.db'}", root, weights, clip, options)
        with postgres_server() as postgres:
            pg = measure("postgres", postgres.new_database(), root, weights, clip, options)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"\n{'':34}{'SQLite':>12}{'PostgreSQL':>12}{'PG/SQLite':>11}")
    for metric in sqlite:
        ratio = pg[metric] / sqlite[metric] if sqlite[metric] else float("nan")
        print(f"{metric:34}{sqlite[metric]:12.2f}{pg[metric]:12.2f}{ratio:11.2f}")
    for name, results in (("SQLite", sqlite), ("PostgreSQL", pg)):
        submit = results["submit p50 ms"] / results["baseline GET /health p50 ms"]
        claim = results["claim p50 ms"] / results["baseline FIFO claim p50 ms"]
        print(f"{name}: submit / GET /health p50 = {submit:.2f}x; fair claim / FIFO claim p50 = {claim:.2f}x")
        print(
            f"{name} at {options.clients} clients: submit p99 {results['submit p99 ms']:.1f} ms"
            f" (target 100), status p99 {results['status p99 ms']:.1f} ms (target 20)"
        )
    for results in (sqlite, pg):
        assert results["listeners with every event"] == options.listeners, "a listener missed events"


if __name__ == "__main__":
    os.environ.setdefault("LTXSERVE_DATA_DIR", tempfile.gettempdir())
    main()
