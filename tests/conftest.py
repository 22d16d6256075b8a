"""Session-wide fixtures: one tiny weight set and one engine, as a long-running worker would have; real
PostgreSQL and S3 servers; a running `ltxserve serve` per backend for the API tests."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ltxserve.engine.engine import Engine
    from ltxserve.engine.weights import WeightSet
    from tests.servers import Postgres, S3Server
    from tests.service import Backend, Client, Serve


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> "WeightSet":
    import torch

    from ltxserve.engine.tiny import write_tiny_weights
    from ltxserve.engine.weights import discover

    torch.set_num_threads(2)
    return discover(write_tiny_weights(tmp_path_factory.mktemp("weights") / "tiny"))


@pytest.fixture(scope="session")
def engine(tiny_weights: "WeightSet") -> "Engine":
    """The engine as a worker on this machine runs it: float32 on a CPU."""
    from ltxserve.engine.engine import Engine

    return Engine(tiny_weights)


@pytest.fixture(scope="session")
def bf16_engine(tiny_weights: "WeightSet") -> "Engine":
    """An engine asked for bfloat16, the dtype the official pipelines compute in (parity tests)."""
    from ltxserve.engine.engine import Engine
    from ltxserve.engine.options import ComputeDtype, EngineOptions

    return Engine(tiny_weights, EngineOptions(dtype=ComputeDtype.BFLOAT16))


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory, tiny_weights: "WeightSet") -> Path:
    """An ltxserve data directory whose demo weights are already in place (CLI tests)."""
    directory = tmp_path_factory.mktemp("data")
    (directory / "weights").mkdir()
    (directory / "weights" / "tiny").symlink_to(tiny_weights.root, target_is_directory=True)
    return directory


@pytest.fixture(scope="session")
def postgres() -> Iterator["Postgres"]:
    """One PostgreSQL server for the session (the Debian package, run as its own user)."""
    from tests.servers import postgres_server

    with postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def s3() -> Iterator["S3Server"]:
    """One S3 protocol server for the session (moto in server mode)."""
    from tests.servers import s3_server

    with s3_server() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: an SQLite file, or a new database on the PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.db'}"
    server: Postgres = request.getfixturevalue("postgres")
    return server.new_database()


@dataclass(frozen=True)
class ExampleAssets:
    """The files the providers' documentation examples point at, served over HTTPS as their hosts
    (hub.oxen.ai, v3b.fal.media): a server reaches them with `--connect-to` and trusts `ca_bundle`."""

    port: int
    ca_bundle: Path
    image: bytes
    video: bytes

    def connect_to(self) -> list[str]:
        return [f"{host}:443:127.0.0.1:{self.port}" for host in EXAMPLE_HOSTS]


EXAMPLE_HOSTS = ("hub.oxen.ai", "v3b.fal.media")
OXEN_IMAGE = "/api/repos/elau/assets/file/main/bloxy/bloxy_cropped_512x512.png"
OXEN_VIDEO = "/api/repos/ox/Oxen-AI-Assets/file/main/images/winter_summer_ox.mp4"
FAL_VIDEO = "/files/b/0a8824b1/sdm0KfmenrlywesfzY1Y1_if6euPp1.mp4"


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4 s 320x180 clip at 24 fps with sound: a source for extend and retake."""
    from fractions import Fraction

    from ltxserve import media
    from ltxserve.media.testsrc import synthetic_clip

    path = tmp_path_factory.mktemp("clips") / "clip.mp4"
    media.encode_clip(path, synthetic_clip(320, 180, 96, Fraction(24)))
    return path


@pytest.fixture(scope="session")
def short_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smallest source a retake takes (73 frames, 3 s at 24 fps), small in size, with sound: for
    tests of the queue's durability, where a job's cost is only the suite's time."""
    from fractions import Fraction

    from ltxserve import media
    from ltxserve.media.testsrc import synthetic_clip

    path = tmp_path_factory.mktemp("clips") / "short.mp4"
    media.encode_clip(path, synthetic_clip(128, 72, 73, Fraction(24)))
    return path


@pytest.fixture(scope="session")
def example_assets(
    tmp_path_factory: pytest.TempPathFactory, clip: Path, short_clip: Path
) -> Iterator[ExampleAssets]:
    """Oxen's example video is the short clip (its examples check shapes; the ordinary clip's own
    test proves the path), fal's the ordinary 320x180 one (its examples are fal's path's proof)."""
    import ssl

    import numpy as np
    import trustme

    from tests.httpfiles import Route, file_server
    from tests.mediafiles import write_image

    directory = tmp_path_factory.mktemp("oxen")
    gradient = np.linspace(0, 255, 512 * 512 * 3).reshape(512, 512, 3).astype(np.uint8)
    image = write_image(directory / "bloxy.png", gradient, "png", "image2").read_bytes()
    video, short = clip.read_bytes(), short_clip.read_bytes()
    authority = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(*EXAMPLE_HOSTS).configure_cert(context)
    bundle = directory / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    routes = {
        OXEN_IMAGE: Route(image, headers={"Content-Type": "image/png"}),
        OXEN_VIDEO: Route(short, headers={"Content-Type": "video/mp4"}),
        FAL_VIDEO: Route(video, headers={"Content-Type": "video/mp4"}),
    }
    with file_server(routes, tls=context) as server:
        yield ExampleAssets(server.port, bundle, image, video)


@pytest.fixture(scope="session", params=["sqlite-local", "postgres-s3"])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> "Backend":
    """Embedded (an SQLite file and a directory) or scaled out (PostgreSQL and an S3 bucket)."""
    from tests.service import Backend

    if request.param == "sqlite-local":
        directory = tmp_path_factory.mktemp("embedded")
        return Backend(request.param, f"sqlite:///{directory / 'ltxserve.db'}", str(directory / "files"))
    postgres: Postgres = request.getfixturevalue("postgres")
    s3: S3Server = request.getfixturevalue("s3")
    storage = f"s3://{s3.new_bucket()}/ltxserve?endpoint={s3.endpoint}"
    return Backend(request.param, postgres.new_database(), storage, s3.environment)


@dataclass
class Running:
    """A running `ltxserve serve` and clients for two API keys."""

    serve: "Serve"
    backend: "Backend"
    data_dir: Path
    alice: "Client"
    bob: "Client"


def serve_args(backend: "Backend", data_dir: Path, weights: Path, *more: str) -> list[str]:
    return [
        "--data-dir",
        str(data_dir),
        "--weights",
        str(weights),
        "--database",
        backend.database,
        "--storage",
        backend.storage,
        "--lease",
        "5",
        "--poll",
        "0.1",
        "--grace",
        "20",
        *more,
    ]


@pytest.fixture(scope="session")
def service(
    backend: "Backend",
    tiny_weights: "WeightSet",
    example_assets: ExampleAssets,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Running]:
    """One server per backend for the API tests: it reaches the examples' assets at their hosts."""
    from tests.service import Client, Serve, create_key

    data_dir = tmp_path_factory.mktemp(f"serve-{backend.name}")
    args = serve_args(
        backend,
        data_dir,
        tiny_weights.root,
        "--sse-ping",
        "1",
        "--max-unfinished",
        "12",
        *(option for target in example_assets.connect_to() for option in ("--connect-to", target)),
    )
    environment = {**backend.environment, "SSL_CERT_FILE": str(example_assets.ca_bundle)}
    with Serve(args, environment, data_dir / "serve.log") as serve:
        alice = Client(serve.url, serve.first_key())
        bob = Client(serve.url, create_key("bob", backend, data_dir))
        yield Running(serve, backend, data_dir, alice, bob)
        alice.close()
        bob.close()


@dataclass(frozen=True)
class FalServer:
    """A `serve` over HTTPS (fal's clients speak nothing else) with one worker, reaching the examples'
    assets at their hosts."""

    url: str
    """https://127.0.0.1:PORT"""
    key: str
    ca_bundle: Path
    """Trusts the server and the examples' assets server."""

    @property
    def host(self) -> str:
        return self.url.removeprefix("https://")

    def environment(self) -> dict[str, str]:
        """What a fal client on this machine is given: its key, and the hosts with their paths."""
        import os

        return {
            **os.environ,
            "FAL_KEY": self.key,
            "FAL_RUN_HOST": f"{self.host}/fal/run",
            "FAL_QUEUE_RUN_HOST": f"{self.host}/fal/queue",
            "SSL_CERT_FILE": str(self.ca_bundle),
            "NODE_EXTRA_CA_CERTS": str(self.ca_bundle),
            "CURL_CA_BUNDLE": str(self.ca_bundle),
        }


@pytest.fixture(scope="session")
def fal_server(
    tiny_weights: "WeightSet", example_assets: ExampleAssets, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FalServer]:
    import ssl

    import trustme

    from tests.service import Backend, Serve

    directory = tmp_path_factory.mktemp("fal")
    authority = trustme.CA()
    issued = authority.issue_cert("127.0.0.1")
    cert, key, bundle = directory / "cert.pem", directory / "key.pem", directory / "ca.pem"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    bundle.write_bytes(authority.cert_pem.bytes() + example_assets.ca_bundle.read_bytes())
    backend = Backend("sqlite-local", f"sqlite:///{directory / 'ltxserve.db'}", str(directory / "files"))
    args = serve_args(backend, directory, tiny_weights.root, "--tls-cert", str(cert), "--tls-key", str(key))
    args += [option for target in example_assets.connect_to() for option in ("--connect-to", target)]
    args += ["--allow-fetch", "127.0.0.1"]  # LoRAs and webhook receivers the tests run on loopback
    trusting = ssl.create_default_context(cafile=str(bundle))
    environment = {"SSL_CERT_FILE": str(bundle)}
    with Serve(args, environment, directory / "serve.log", scheme="https", verify=trusting) as serve:
        yield FalServer(serve.url, serve.first_key(), bundle)
