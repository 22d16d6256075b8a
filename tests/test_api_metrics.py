"""/metrics: what the API and the workers record, and the queue as the database has it, in Prometheus'
format. In-process with a real Worker thread (sketch renderer); the Grafana dashboard asks only for
metrics that exist. (A worker of its own serving its port: `test_logs`; workers under `serve`:
`test_api_oxen`.)"""

import asyncio
import json
import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.inprocess import Api, api

pytestmark = pytest.mark.anyio
DASHBOARD = Path(__file__).parent.parent / "ops" / "grafana-dashboard.json"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def scrape(served: Api) -> Samples:
    answer = await served.http.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    return samples(answer.text)


async def finished(served: Api, video: str) -> str:
    while True:
        status = (await served.http.get(f"/v1/videos/{video}")).json()["status"]
        if status not in ("queued", "in_progress"):
            return str(status)
        await asyncio.sleep(0.02)


async def test_a_job_is_counted_from_request_to_result(tmp_path: Path) -> None:
    async with api(tmp_path, worker=True) as served:
        before = await scrape(served)
        made = await served.http.post("/v1/videos", json={"prompt": "x", "seconds": "2", "size": "320x180"})
        assert await finished(served, made.json()["id"]) == "completed"
        body = {"prompt": "x", "input_reference": "https://nowhere.invalid/first.png", "size": "320x180"}
        failing = await served.http.post("/v1/videos", json=body)
        assert await finished(served, failing.json()["id"]) == "failed"
        after = await scrape(served)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "ltxserve_http_request_duration_seconds_count"
    assert grew(requests, method="POST", route="/v1/videos", status="200") == 2
    assert grew(requests, method="GET", route="/v1/videos/{video_id}", status="200") >= 2
    assert value(after, "ltxserve_jobs", state="succeeded", model="videos") == 1
    assert value(after, "ltxserve_jobs", state="failed", model="videos") == 1
    assert value(after, "ltxserve_workers_up") == 1
    assert grew("ltxserve_job_queue_wait_seconds_count", model="videos") == 2
    assert grew("ltxserve_job_run_seconds_count", model="videos", outcome="succeeded") == 1
    assert grew("ltxserve_job_run_seconds_count", model="videos", outcome="failed") == 1
    assert grew("ltxserve_job_stage_seconds_count", model="videos", stage="denoising") == 1
    assert grew("ltxserve_denoise_steps_total", model="videos") > 0
    assert grew("ltxserve_fetch_failures_total", cause="dns") == 1


async def test_the_dashboard_asks_only_for_metrics_that_exist(tmp_path: Path) -> None:
    async with api(tmp_path) as served:
        exposed = (await served.http.get("/metrics")).text
    families = {family.name for family in text_string_to_metric_families(exposed)}
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert len(queries) >= 8
    asked = {name for query in queries for name in re.findall(r"\bltxserve_[a-z_]+", query)}
    missing = {name for name in asked if re.sub(r"_(total|bucket|count|sum)$", "", name) not in families}
    assert not missing, f"the dashboard asks for metrics no one exports: {missing}"
