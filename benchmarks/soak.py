"""Soak: many clients for minutes against `ltxserve serve` and workers with a no-op engine, across the
dialects, on SQLite or PostgreSQL.

    .venv/bin/python benchmarks/soak.py [--clients 200] [--seconds 600] [--database sqlite|postgresql]

Each client loops until the time is up: it submits a text-to-video job in its dialect (Oxen, fal, the
LTX API, OpenAI, by turns), follows it to its end (polling its status every --poll seconds, or, one
fal client in two, reading fal's status stream), downloads the result, and goes again. The workers
are --workers threads in a process of their own, each job taking --job-seconds (progress steps, then
a ready clip copied: everything but the model).

Printed: requests, errors, p50 and p99 per route, in the run's first tenth (the baseline) and its last
side by side; the RSS of every process (API, workers, load) at the start, after the first tenth and at
the end; and the jobs accounted for: every job a client was told of is in the database once,
succeeded once, with one result file. It exits non-zero on any error or any job not accounted for
exactly once.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.servers import postgres_server
from tests.service import Serve

from benchmarks.service import NoopRenderer, percentile
from ltxserve import media
from ltxserve.database import JobState, job_events, jobs, open_database, reading, workers
from ltxserve.media.testsrc import synthetic_clip

FAL = "/fal/queue/fal-ai/ltx-2.3/text-to-video"
DIALECTS = ("oxen", "fal", "ltx", "openai")
ENDED = {"oxen": {"succeeded", "failed", "cancelled"}, "fal": {"COMPLETED"},
         "ltx": {"completed", "failed"}, "openai": {"completed", "failed"}}  # fmt: skip


@dataclass
class Record:
    """What the load saw: each request's route, start, latency and outcome, and every job it was given."""

    started: float = field(default_factory=time.monotonic)
    requests: list[tuple[str, float, float, bool]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    jobs: dict[str, str] = field(default_factory=dict)
    """job id -> the dialect it was submitted through."""


class Load:
    def __init__(self, url: str, record: Record, poll: float) -> None:
        self.url = url
        self.record = record
        self.poll = poll
        self.session: aiohttp.ClientSession

    async def call(self, route: str, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        started = time.monotonic()
        try:
            async with self.session.request(method, path, json=body) as response:
                data = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            self.record.requests.append((route, started, time.monotonic() - started, False))
            self.record.errors.append(f"{route}: {type(error).__name__}: {error}")
            raise
        ok = status < 400
        self.record.requests.append((route, started, time.monotonic() - started, ok))
        if not ok:
            self.record.errors.append(f"{route}: {status} {data[:200]!r}")
        return status, data

    async def json(self, route: str, method: str, path: str, body: Any = None) -> Any:
        _, data = await self.call(route, method, path, body)
        return json.loads(data)

    async def until_ended(self, route: str, path: str, dialect: str) -> Any:
        while True:
            answer = await self.json(route, "GET", path)
            if answer.get("status") in ENDED[dialect]:
                return answer
            await asyncio.sleep(self.poll)

    # one job, start to end, in each dialect

    async def oxen(self, _: int) -> None:
        body = {"model": "ltx-2-3-pro", "prompt": "soak", "duration": 6}
        submitted = await self.json("oxen submit", "POST", "/api/ai/queue", body)
        job = submitted["generations"][0]["generation_id"]
        self.record.jobs[job] = "oxen"
        ended = await self.until_ended("oxen status", f"/api/ai/queue/{job}", "oxen")
        await self.call("oxen result", "GET", ended["result_url"])

    async def fal(self, index: int) -> None:
        submitted = await self.json("fal submit", "POST", FAL, {"prompt": "soak"})
        self.record.jobs[submitted["request_id"]] = "fal"
        if index % 2:
            await self.until_ended("fal status", submitted["status_url"], "fal")
        else:
            await self.stream(submitted["status_url"] + "/stream")
        result = await self.json("fal result", "GET", submitted["response_url"])
        await self.call("fal result file", "GET", result["video"]["url"])

    async def stream(self, url: str) -> None:
        started = time.monotonic()
        async with self.session.get(url) as response:
            ok = response.status == 200
            async for line in response.content:
                if line.startswith(b"data: ") and b'"COMPLETED"' in line:
                    break
            else:
                ok = False
        self.record.requests.append(("fal status stream", started, time.monotonic() - started, ok))
        if not ok:
            self.record.errors.append(f"fal status stream: {response.status}, ended before COMPLETED")

    async def ltx(self, _: int) -> None:
        body = {"prompt": "soak", "model": "ltx-2-3-pro", "duration": 6, "resolution": "1920x1080"}
        job = (await self.json("ltx submit", "POST", "/v2/text-to-video", body))["id"]
        self.record.jobs[job] = "ltx"
        ended = await self.until_ended("ltx status", f"/v2/text-to-video/{job}", "ltx")
        await self.call("ltx result", "GET", ended["result"]["video_url"])

    async def openai(self, _: int) -> None:
        job = (await self.json("openai submit", "POST", "/v1/videos", {"prompt": "soak"}))["id"]
        self.record.jobs[job] = "openai"
        await self.until_ended("openai status", f"/v1/videos/{job}", "openai")
        await self.call("openai content", "GET", f"/v1/videos/{job}/content")

    async def run(self, clients: int, seconds: float) -> None:
        connector = aiohttp.TCPConnector(limit=0)
        timeout = aiohttp.ClientTimeout(total=300)
        async with aiohttp.ClientSession(self.url, connector=connector, timeout=timeout) as self.session:
            deadline = time.monotonic() + seconds

            async def client(index: int) -> None:
                one_job: Callable[[int], Awaitable[None]] = getattr(self, DIALECTS[index % len(DIALECTS)])
                await asyncio.sleep(self.poll * index / clients)  # spread over one polling interval
                while time.monotonic() < deadline:
                    try:
                        await one_job(index // len(DIALECTS))
                    except (aiohttp.ClientError, TimeoutError, KeyError, ValueError) as error:
                        self.record.errors.append(f"client {index}: {type(error).__name__}: {error}")
                        await asyncio.sleep(self.poll)

            await asyncio.gather(*(client(index) for index in range(clients)))


# --- the workers' process -------------------------------------------------------------------------


def run_workers(database: str, storage: str, clip: str, count: int, job_seconds: float) -> None:
    import threading

    from ltxserve.inputs import Fetcher, InputResolver
    from ltxserve.jobs.store import JobStore
    from ltxserve.jobs.worker import Worker
    from ltxserve.settings import WorkerSettings
    from ltxserve.storage import open_storage

    store = JobStore(open_database(database))
    files = open_storage(storage, b"soak")
    settings = WorkerSettings(lease_seconds=30, poll_seconds=0.05)
    renderer = NoopRenderer(Path(clip), step_seconds=job_seconds / 10)
    inputs = InputResolver(Fetcher(), files)
    workers = [Worker(store, files, inputs, renderer, settings) for _ in range(count)]
    threads = [threading.Thread(target=worker.run, daemon=True) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


# --- measuring ------------------------------------------------------------------------------------


async def workers_up(database: str, count: int) -> None:
    """Wait until `count` workers have said they are up (the start's RSS is theirs, not a bootstrap's)."""
    engine = open_database(database)
    try:
        for _ in range(1200):
            with reading(engine) as connection:
                if connection.execute(sa.select(sa.func.count()).select_from(workers)).scalar_one() >= count:
                    return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{count} workers did not come up")
    finally:
        engine.dispose()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def route_table(record: Record, seconds: float) -> None:
    tenth = seconds / 10
    first: dict[str, list[float]] = defaultdict(list)
    last: dict[str, list[float]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    failed: dict[str, int] = defaultdict(int)
    for route, started, latency, ok in record.requests:
        counts[route] += 1
        failed[route] += not ok
        moment = started - record.started
        if moment < tenth:
            first[route].append(latency)
        elif moment >= seconds - tenth:
            last[route].append(latency)
    print(f"\n{'route':20}{'requests':>9}{'errors':>7}   {'first tenth p50/p99 ms':>23}"
          f"   {'last tenth p50/p99 ms':>22}{'p99 last/first':>15}")  # fmt: skip
    for route in sorted(counts):

        def both(values: list[float]) -> str:
            if not values:
                return "-"
            return f"{1000 * percentile(values, 0.5):.1f} / {1000 * percentile(values, 0.99):.1f}"

        ratio = (
            f"{percentile(last[route], 0.99) / percentile(first[route], 0.99):.2f}"
            if first[route] and last[route]
            else "-"
        )
        print(f"{route:20}{counts[route]:9}{failed[route]:7}   {both(first[route]):>23}"
              f"   {both(last[route]):>22}{ratio:>15}")  # fmt: skip


def accounted(database: str, storage: Path, record: Record) -> list[str]:
    """Every job the clients were told of, in the database once, succeeded once, with one result file."""
    problems = []
    engine = open_database(database)
    with reading(engine) as connection:
        rows = {row.id: row for row in connection.execute(sa.select(jobs.c.id, jobs.c.state, jobs.c.result))}
        ended = connection.execute(
            sa.select(job_events.c.job_id, sa.func.count())
            .where(job_events.c.type == JobState.SUCCEEDED)
            .group_by(job_events.c.job_id)
        ).all()
    engine.dispose()
    successes: dict[str, int] = dict(ended)
    if set(rows) != set(record.jobs):
        problems.append(f"{len(set(rows) ^ set(record.jobs))} jobs in one of database and clients only")
    for job_id in record.jobs:
        row = rows.get(job_id)
        if row is None or row.state != JobState.SUCCEEDED or successes.get(job_id) != 1:
            problems.append(f"job {job_id}: {row and row.state}, succeeded {successes.get(job_id)} times")
        else:
            files = list((storage / "results" / job_id).rglob("*.*"))
            if [path.relative_to(storage).as_posix() for path in files] != [row.result["key"]]:
                problems.append(f"job {job_id}: result files {files}, recorded {row.result['key']}")
    return problems


@contextmanager
def database_url(kind: str, root: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{root / 'soak.db'}"
    else:
        with postgres_server() as postgres:
            yield postgres.new_database()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--workers", type=int, default=4, help="worker threads")
    parser.add_argument("--job-seconds", type=float, default=1.0)
    parser.add_argument("--poll", type=float, default=2.0, help="seconds between a client's status polls")
    options = parser.parse_args()
    from ltxserve.engine.tiny import ensure_tiny_weights

    root = Path(tempfile.mkdtemp(prefix="ltxserve-soak-"))
    weights = ensure_tiny_weights(root / "weights")
    clip = root / "clip.mp4"
    media.encode_clip(clip, synthetic_clip(320, 180, 73, Fraction(24)))
    storage = root / "files"
    with database_url(options.database, root) as database:
        args = ["--workers", "0", "--no-auth", "--data-dir", str(root / "data"), "--weights", str(weights),
                "--database", database, "--storage", str(storage), "--max-unfinished", "1000000",
                "--log-level", "warning"]  # fmt: skip
        with Serve(args, {}, root / "serve.log") as serve:
            spawn = multiprocessing.get_context("spawn")
            worker_process = spawn.Process(
                target=run_workers,
                args=(database, str(storage), str(clip), options.workers, options.job_seconds),
                daemon=True,
            )
            worker_process.start()
            record = Record()
            load = Load(serve.url, record, options.poll)
            assert serve.process is not None
            processes = {"api": serve.process.pid, "workers": worker_process.pid or 0, "load": os.getpid()}
            rss: dict[str, list[float]] = {name: [] for name in processes}

            def measure_rss() -> None:
                for name, pid in processes.items():
                    rss[name].append(rss_mib(pid))

            async def soak() -> None:
                await workers_up(database, options.workers)
                measure_rss()
                running = asyncio.create_task(load.run(options.clients, options.seconds))
                await asyncio.sleep(options.seconds / 10)
                measure_rss()
                await running
                measure_rss()

            asyncio.run(soak())
            worker_process.terminate()
            worker_process.join()
        problems = accounted(database, storage, record)
    ran = time.monotonic() - record.started
    counted = f"{len(record.requests)} requests, {len(record.jobs)} jobs, {len(record.errors)} errors"
    print(f"{options.clients} clients, {ran:.0f} s, {options.database}, {options.workers} workers: {counted}")
    route_table(record, options.seconds)
    # flat is judged from the first tenth on: by then every code path has run and allocated once
    print(f"\n{'RSS, MiB':10}{'at start':>10}{'after first tenth':>19}{'at end':>8}{'end/first tenth':>17}")
    for name, (start, warm, end) in rss.items():
        print(f"{name:10}{start:10.1f}{warm:19.1f}{end:8.1f}{end / warm:17.2f}")
    for error in record.errors[:20]:
        print("error:", error)
    for problem in problems[:20]:
        print("not accounted for:", problem)
    print(f"jobs accounted for exactly once: {len(record.jobs) - len(problems)} of {len(record.jobs)}")
    if record.errors or problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
