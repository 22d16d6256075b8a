"""`--log-format json`: every line is one JSON object, and what is written while serving a request or
running a job carries that request's and that job's id. In-process (a real Worker thread with the
sketch renderer), and through `ltxserve worker` itself (which also serves its metrics and, when its
database fails, exits 1)."""

import asyncio
import io
import json
import logging
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ltxserve.engine.weights import WeightSet
from ltxserve.logs import LogFormat, configure_logging
from tests.inprocess import api
from tests.servers import free_port

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    kept = (root.handlers[:], root.level)
    written = io.StringIO()
    configure_logging("info", LogFormat.JSON, written)
    yield written
    root.handlers[:], root.level = kept[0], kept[1]


def records(written: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in written.getvalue().splitlines()]


async def test_requests_and_jobs_log_json_lines_with_their_ids(tmp_path: Path, json_log: io.StringIO) -> None:
    async with api(tmp_path, worker=True) as served:
        body = {"model": "ltx-2-3-pro", "prompt": "x", "duration": 6}
        queued = await served.http.post("/api/ai/queue", json=body, headers={"X-Request-ID": "client-7"})
        assert queued.headers["x-request-id"] == "client-7"
        job = queued.json()["generations"][0]["generation_id"]
        while (await served.http.get(f"/api/ai/queue/{job}")).json()["status"] != "succeeded":
            await asyncio.sleep(0.02)
        mine = await served.http.get("/health", headers={"X-Request-ID": "bad id with spaces"})
        assert len(mine.headers["x-request-id"]) == 16, "a request id that is not sane is replaced"
    lines = records(json_log)
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    (submitted,) = [line for line in lines if line["message"].startswith("POST /api/ai/queue ")]
    assert submitted["request_id"] == "client-7" and submitted["logger"] == "ltxserve.access"
    working = [line for line in lines if line["logger"] == "ltxserve.worker" and job in line["message"]]
    assert working and all(line["job_id"] == job for line in working)


def test_a_worker_of_its_own_logs_json_serves_its_metrics_and_exits_1_when_its_database_fails(
    tiny_weights: WeightSet, tmp_path: Path
) -> None:
    database = tmp_path / "ltxserve.db"
    port = free_port()
    command = [sys.executable, "-m", "ltxserve", "worker", "--data-dir", str(tmp_path), "--poll", "0.05"]
    command += ["--weights", str(tiny_weights.root), "--database", f"sqlite:///{database}"]
    command += ["--log-format", "json", "--metrics-port", str(port)]
    worker = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    assert worker.stderr is not None
    assert any(" ready" in line for line in worker.stderr), "the worker never got ready"
    exposed = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    families = {family.name for family in text_string_to_metric_families(exposed)}
    assert {"ltxserve_denoise_steps", "ltxserve_job_run_seconds", "ltxserve_fetch_failures"} <= families
    with sqlite3.connect(database) as broken:
        broken.execute("DROP TABLE jobs")  # its next look at the queue fails
    output = worker.stderr.read()
    assert worker.wait(30) == 1, "non-zero, so that serve or any supervisor starts it again"
    lines = [json.loads(line) for line in output.splitlines()]
    failed = [line for line in lines if line["level"] == "ERROR"]
    assert failed and "no such table: jobs" in failed[-1]["message"]
    assert any("exc_info" in line for line in failed), "the traceback is inside the JSON object"
