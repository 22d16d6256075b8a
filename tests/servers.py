"""Real servers for the tests and benchmarks: a PostgreSQL server (the Debian package, in a temporary
directory, on a free port) and an S3 protocol server (moto in server mode, as its own process)."""

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


def _postgres_bin() -> Path:
    installed = Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")
    versions = sorted(installed, key=lambda path: int(path.parent.parent.name))
    if not versions:
        raise RuntimeError("PostgreSQL is not installed: run scripts/system-packages")
    return versions[-1].parent


@dataclass(frozen=True)
class Postgres:
    port: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://ltxserve@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextlib.contextmanager
def postgres_server(listen: str = "127.0.0.1") -> Iterator[Postgres]:
    """PostgreSQL from the Debian package, run by the `postgres` user when we are root (the server
    refuses to run as root), with durability off: these databases live for one test run. `listen`:
    the addresses it takes connections on (other than loopback: from anyone, without a password)."""
    binaries = _postgres_bin()
    root = Path(tempfile.mkdtemp(prefix="ltxserve-pg-"))
    data, sockets = root / "data", root / "run"
    sockets.mkdir()
    run_as: list[str] = []
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")
        os.chown(root, account.pw_uid, account.pw_gid)
        os.chown(sockets, account.pw_uid, account.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    options = (
        f"-p {port} -k {sockets} -c listen_addresses={listen} -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=400"
    )

    def run(tool: str, *args: str, check: bool = True) -> None:
        command = [*run_as, str(binaries / tool), "-D", str(data), *args]
        subprocess.run(command, check=check, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    run("initdb", "-U", "ltxserve", "--auth=trust", "-E", "UTF8", "--no-sync")
    if listen != "127.0.0.1":
        with (data / "pg_hba.conf").open("a") as rules:
            rules.write("host all all 0.0.0.0/0 trust\n")
    run("pg_ctl", "-o", options, "-l", str(root / "log"), "-w", "start")
    try:
        yield Postgres(port)
    finally:
        run("pg_ctl", "-m", "immediate", "stop", check=False)
        shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str = "testing"
    secret_key: str = "testing"
    region: str = "us-east-1"

    def new_bucket(self) -> str:
        """A fresh bucket; its name. (moto does not check signatures, so a plain PUT creates it.)"""
        name = f"ltxserve-{uuid.uuid4().hex[:12]}"
        httpx.put(f"{self.endpoint}/{name}", timeout=10).raise_for_status()
        return name

    @property
    def environment(self) -> dict[str, str]:
        """The variables an S3 client reads its credentials and region from."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }


@contextlib.contextmanager
def s3_server(listen: str = "127.0.0.1") -> Iterator[S3Server]:
    """moto in server mode: a real HTTP S3 endpoint in its own process (reached at 127.0.0.1, and at
    `listen`'s addresses)."""
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", listen, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        endpoint = f"http://127.0.0.1:{port}"
        httpx.get(endpoint + "/moto-api/", timeout=10)
        yield S3Server(endpoint)
    finally:
        server.terminate()
        server.wait(10)
