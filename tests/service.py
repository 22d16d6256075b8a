"""`ltxserve serve` as a user runs it: a real process, real HTTP on loopback, its embedded worker
processes, stopped with real signals."""

import os
import re
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.servers import free_port

TERMINAL = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class Backend:
    """Where a server keeps its jobs and files, and what its processes need in their environment."""

    name: str
    database: str
    storage: str
    environment: dict[str, str] = field(default_factory=dict)


@dataclass
class Serve:
    args: list[str]
    environment: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    command: tuple[str, ...] = (sys.executable, "-m", "ltxserve", "serve")
    scheme: str = "http"
    verify: ssl.SSLContext | bool = True
    """For https: trusting the CA that signed the server's certificate."""

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> "Serve":
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                [*self.command, "--port", str(self.port), *self.args],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.environment},
                start_new_session=True,  # its own process group: `kill_all` reaches its workers too
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"serve exited early:\n{self.log.read_text()[-4000:]}"
            try:
                if httpx.get(f"{self.url}/health", timeout=2, verify=self.verify).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"serve did not answer within {timeout} s:\n{self.log.read_text()[-4000:]}")

    def first_key(self) -> str:
        """The key serve makes (and prints once) when the database has none."""
        match = re.search(r"^\s+(ltx_\S+)$", self.log.read_text(), re.MULTILINE)
        assert match, "serve printed no key"
        return match.group(1)

    def worker_pids(self) -> list[int]:
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return [int(pid) for pid in children]

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 120) -> int:
        assert self.process is not None
        self.process.send_signal(signum)
        return self.process.wait(timeout)

    def kill_all(self) -> None:
        """SIGKILL the server and its workers at once, as a power cut would: no one hands a job back."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def __enter__(self) -> "Serve":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.stop(signal.SIGKILL)


class Client:
    """An HTTP client holding one API key."""

    def __init__(self, base_url: str, key: str | None, verify: ssl.SSLContext | bool = True) -> None:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=600, verify=verify)

    def get(self, path: str, **options: Any) -> httpx.Response:
        return self.http.get(path, **options)

    def post(self, path: str, **options: Any) -> httpx.Response:
        return self.http.post(path, **options)

    def delete(self, path: str, **options: Any) -> httpx.Response:
        return self.http.delete(path, **options)

    def enqueue(self, body: dict[str, Any]) -> list[str]:
        response = self.post("/api/ai/queue", json=body)
        assert response.status_code == 200, response.text
        return [generation["generation_id"] for generation in response.json()["generations"]]

    def generation(self, generation_id: str) -> dict[str, Any]:
        response = self.get(f"/api/ai/queue/{generation_id}")
        assert response.status_code == 200, response.text
        item: dict[str, Any] = response.json()
        return item

    def wait(self, generation_id: str, timeout: float = 400) -> dict[str, Any]:
        """Poll as Oxen's own example does, until the status is terminal."""
        deadline = time.monotonic() + timeout
        while (item := self.generation(generation_id))["status"] not in TERMINAL:
            assert time.monotonic() < deadline, f"{generation_id} still {item['status']}"
            time.sleep(0.2)
        return item

    def wait_for(self, generation_id: str, stage: str, timeout: float = 120) -> dict[str, Any]:
        """Poll until the generation reports progress in `stage`."""
        deadline = time.monotonic() + timeout
        while True:
            item = self.generation(generation_id)
            if (item.get("progress") or {}).get("stage") == stage:
                return item
            assert item["status"] not in TERMINAL, f"{generation_id} ended before {stage}: {item}"
            assert time.monotonic() < deadline, f"{generation_id} never reached {stage}"
            time.sleep(0.02)

    def close(self) -> None:
        self.http.close()


def keys(backend: Backend, data_dir: Path, *args: str) -> str:
    """What `ltxserve keys ARGS` prints, run as an operator would."""
    command = [sys.executable, "-m", "ltxserve", "keys", *args]
    command += ["--data-dir", str(data_dir), "--database", backend.database]
    environment = {**os.environ, **backend.environment}
    return subprocess.run(command, capture_output=True, text=True, check=True, env=environment).stdout


def create_key(name: str, backend: Backend, data_dir: Path) -> str:
    return keys(backend, data_dir, "create", name).strip()


def until_subscribed(stream: Iterator[tuple[str, str, str]]) -> None:
    """Read a new stream up to its first keep-alive: the server subscribes as the stream starts,
    before its first ping, so from then on nothing that happens is missed."""
    for _, _, data in stream:
        if "keep-alive" in data:
            return
    raise AssertionError("the event stream ended before its first keep-alive")


@contextmanager
def events(client: Client, last_event_id: str | None = None) -> Iterator[Iterator[tuple[str, str, str]]]:
    """The event stream as (id, event, data) triples; comments come as ("", "", ": comment")."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    with client.http.stream(
        "GET", "/api/events", headers=headers, timeout=httpx.Timeout(600, read=60)
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")

        def parse() -> Iterator[tuple[str, str, str]]:
            fields: dict[str, str] = {}
            for line in response.iter_lines():
                if line.startswith(":"):
                    yield "", "", line
                elif not line:
                    if fields:
                        yield fields.get("id", ""), fields.get("event", "message"), fields.get("data", "")
                    fields = {}
                else:
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")

        yield parse()
