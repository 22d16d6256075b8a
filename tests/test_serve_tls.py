"""`serve --tls-cert F --tls-key F` answers HTTPS itself: clients that insist on https need no proxy."""

import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trustme

from tests.service import Serve


def test_serve_speaks_https_with_the_given_certificate(tmp_path: Path) -> None:
    authority = trustme.CA()
    issued = authority.issue_cert("127.0.0.1", "localhost")
    cert, key, ca = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    authority.cert_pem.write_to_path(str(ca))
    args = ["--workers", "0", "--no-auth", "--data-dir", str(tmp_path / "data"),
            "--tls-cert", str(cert), "--tls-key", str(key)]  # fmt: skip
    trusting = ssl.create_default_context(cafile=str(ca))
    with Serve(args, {}, tmp_path / "serve.log", scheme="https", verify=trusting) as server:
        assert server.url.startswith("https://")
        health = httpx.get(f"{server.url}/health", verify=trusting)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        models = httpx.get(f"{server.url}/api/ai/models", verify=trusting)
        assert models.status_code == 200 and models.json()["data"]
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{server.url}/health")  # the system's CAs do not know this one


def test_a_certificate_needs_its_key(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ltxserve", "serve", "--tls-cert", str(tmp_path / "cert.pem")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "--tls-cert and --tls-key go together" in done.stderr
