"""Scale-out with real faults: two worker hosts, each in a network namespace of its own, reach
PostgreSQL and an S3 server (moto) over their own links, as machines on a network would; the API
runs on this host. One host's link is cut while it runs a job (its lease runs out; the other host
finishes the job), a worker is SIGKILLed mid-job, the API is restarted: every job still succeeds
exactly once, with one result file."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from ltxserve.database import JobState, job_events, jobs, open_database, reading
from ltxserve.engine.weights import WeightSet
from ltxserve.jobs.store import Job, JobStore
from ltxserve.storage import open_storage
from tests.servers import S3Server, postgres_server, s3_server
from tests.service import Serve

LEASE = 4
SUBMIT = "/fal/queue/fal-ai/ltx-2.3-22b/text-to-video"
BODY = {"prompt": "a harbour at dusk", "video_size": {"width": 192, "height": 128}, "num_frames": 33}


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass(frozen=True)
class Host:
    namespace: str
    link: str
    """This side of the host's link: down, the host is cut off."""
    gateway: str
    """The address the host reaches this machine's servers at."""

    def cut(self) -> None:
        ip("link", "set", self.link, "down")

    def mend(self) -> None:
        ip("link", "set", self.link, "up")

    def worker(self, database: str, storage: str, weights: Path, s3: S3Server, data: Path) -> "Worker":
        command = ["ip", "netns", "exec", self.namespace, sys.executable, "-m", "ltxserve", "worker",
                   "--database", database.replace("127.0.0.1", self.gateway),
                   "--storage", storage.replace("127.0.0.1", self.gateway), "--weights", str(weights),
                   "--data-dir", str(data), "--lease", str(LEASE), "--poll", "0.2"]  # fmt: skip
        data.mkdir(exist_ok=True)
        with (data / "worker.log").open("ab") as log:
            # `ip netns exec` execs the command: its pid is the worker's, the one in its worker id
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **s3.environment}
            )
        return Worker(process, data / "worker.log")


@dataclass(frozen=True)
class Worker:
    process: subprocess.Popen[bytes]
    log: Path

    def runs(self, job: Job) -> bool:
        return job.state is JobState.RUNNING and f":{self.process.pid}:" in (job.worker_id or "")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def two_hosts() -> Iterator[tuple[Host, Host]]:
    tag = os.getpid() % 10000
    made: list[Host] = []
    try:
        for index in (1, 2):
            host = Host(f"ltxserve-{tag}-{index}", f"lx{tag}h{index}", f"10.77.{index}.1")
            try:
                ip("netns", "add", host.namespace)
            except subprocess.CalledProcessError as error:
                if "Operation not permitted" in error.stderr:
                    pytest.skip("network namespaces need root (CAP_SYS_ADMIN, CAP_NET_ADMIN)")
                raise
            made.append(host)
            inside = f"lx{tag}n{index}"
            ip("link", "add", host.link, "type", "veth", "peer", "name", inside)
            ip("link", "set", inside, "netns", host.namespace)
            ip("addr", "add", f"{host.gateway}/24", "dev", host.link)
            ip("link", "set", host.link, "up")
            ip("-n", host.namespace, "addr", "add", f"10.77.{index}.2/24", "dev", inside)
            ip("-n", host.namespace, "link", "set", inside, "up")
            ip("-n", host.namespace, "link", "set", "lo", "up")
        yield made[0], made[1]
    finally:
        for host in made:
            subprocess.run(["ip", "link", "del", host.link], capture_output=True)
            subprocess.run(["ip", "netns", "del", host.namespace], capture_output=True)


def wait_for[T](what: str, check: Callable[[], T | None], timeout: float = 180) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


def submit(api: Serve, count: int) -> list[str]:
    return [httpx.post(api.url + SUBMIT, json=BODY, timeout=30).json()["request_id"] for _ in range(count)]


def test_a_cut_host_a_killed_worker_and_a_restarted_api_leave_every_job_done_once(
    tmp_path: Path, tiny_weights: WeightSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    with two_hosts() as (first, second), postgres_server(listen="*") as pg, s3_server(listen="0.0.0.0") as s3:
        database = pg.new_database()
        storage = f"s3://{s3.new_bucket()}?endpoint={s3.endpoint}"
        store = JobStore(open_database(database))

        def running_on(worker: Worker) -> Job | None:
            return next((job for job in store.list_jobs("local", limit=100) if worker.runs(job)), None)

        def ended(job_id: str) -> bool:
            job = store.get(job_id)
            return job is not None and job.state.terminal

        def worker_on(host: Host) -> Worker:
            return host.worker(database, storage, tiny_weights.root, s3, tmp_path / host.namespace)

        api_args = ["--workers", "0", "--no-auth", "--data-dir", str(tmp_path / "api"),
                    "--database", database, "--storage", storage, "--lease", str(LEASE)]  # fmt: skip
        api = Serve(api_args, s3.environment, tmp_path / "api.log").start()
        workers = [worker_on(first), worker_on(second)]
        try:
            ids = submit(api, 4)
            # a host cut off mid-job: its lease runs out, the other host runs the job again
            cut = wait_for("a job running on the first host", lambda: running_on(workers[0]))
            first.cut()
            wait_for("the cut host's job done by the other", lambda: ended(cut.id))
            first.mend()
            # a worker killed mid-job, and the API restarted meanwhile
            ids += submit(api, 3)
            killed = wait_for("a job running on the second host", lambda: running_on(workers[1]))
            workers[1].process.kill()
            api.stop()
            api.start()
            if workers[0].process.poll() is not None:  # a worker whose database failed under it exits
                workers[0] = worker_on(first)
            wait_for(
                "every job ended",
                lambda: all(job.state.terminal for job in store.list_jobs("local", limit=100)),
                timeout=300,
            )
        finally:
            for worker in workers:
                worker.stop()
            api.stop()
        assert workers[0].process.returncode == 0, "a worker stops cleanly on SIGTERM"
        logs = "\n".join(worker.log.read_text()[-3000:] for worker in workers)
        done = {job.id: job for job in store.list_jobs("local", limit=100)}
        assert set(done) == set(ids)
        assert all(job.state is JobState.SUCCEEDED for job in done.values()), logs
        assert done[cut.id].attempts >= 2 and done[killed.id].attempts >= 2
        with reading(store.engine) as connection:
            successes: dict[str, int] = dict(
                connection.execute(
                    sa.select(job_events.c.job_id, sa.func.count())
                    .where(job_events.c.type == JobState.SUCCEEDED)
                    .group_by(job_events.c.job_id)
                ).all()
            )
            assert connection.execute(sa.select(sa.func.count()).select_from(jobs)).scalar_one() == len(ids)
        assert successes == dict.fromkeys(ids, 1), "each job succeeded exactly once"
        for name, value in s3.environment.items():
            monkeypatch.setenv(name, value)
        bucket = open_storage(storage, b"x")
        recorded = sorted(job.result["key"] for job in done.values() if job.result)
        assert sorted(item.key for item in bucket.listing("results/")) == recorded, "one result file each"
