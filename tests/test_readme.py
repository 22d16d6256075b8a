"""The README stays true: its main command starts the server, and every request body in its curl
examples is accepted by it as written."""

import json
import re
import signal
from pathlib import Path

import httpx

from ltxserve.api.oxen_models import MODELS
from ltxserve.engine.weights import WeightSet
from tests.service import Client, Serve

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_the_main_command_starts_the_server_and_the_examples_are_accepted(
    tiny_weights: WeightSet, tmp_path: Path, clip: Path
) -> None:
    args = ["--data-dir", str(tmp_path / "data"), "--weights", str(tiny_weights.root), "--workers", "0"]
    with Serve(args, {}, tmp_path / "serve.log", command=(str(ROOT / "dev"), "run")) as serve:
        assert httpx.get(f"{serve.url}/health").json()["status"] == "ok"
        client = Client(serve.url, serve.first_key())
        video = client.post("/api/uploads", content=clip.read_bytes()).json()["uri"]
        bodies = re.findall(r"curl [^\n]*? -d '(\{.*?\})'\s*$", README, re.MULTILINE)
        models = set()
        for body in bodies:
            ids = client.enqueue(json.loads(body.replace("'$VIDEO'", video)))
            models.add(client.generation(ids[0])["model_name"])
            for job in ids:
                assert client.delete(f"/api/ai/queue/{job}").status_code == 200
        assert models == set(MODELS), "an example for every model"
        assert serve.stop(signal.SIGTERM) == 0


def test_an_api_only_server_without_weights_leaves_the_weights_to_its_workers(tmp_path: Path) -> None:
    """`serve --workers 0` fronts workers elsewhere: it claims no weights (least of all the demo set)
    and queues what its parameters allow. With --no-auth everyone is one local user."""
    args = ["--data-dir", str(tmp_path), "--workers", "0", "--no-auth"]
    with Serve(args, {}, tmp_path / "serve.log") as serve:
        health = httpx.get(f"{serve.url}/health").json()
        assert (health["weights"], health["demo"], health["auth"]) == (None, False, False)
        anyone = Client(serve.url, None)
        (job,) = anyone.enqueue({"model": "ltx-2-3-pro", "prompt": "x", "camera_motion": "focus_shift"})
        assert Client(serve.url, "ltx_whatever").generation(job)["status"] == "queued"
        assert anyone.delete(f"/api/ai/queue/{job}").status_code == 200
    log = (tmp_path / "serve.log").read_text()
    assert "no API keys yet" not in log and "demo weights" not in log
    assert not (tmp_path / "weights").exists(), "no demo weights were written"
