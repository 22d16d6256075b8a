"""fal's own clients and its page's examples against `ltxserve serve` over HTTPS, the real engine
behind it: the Python example run as written by `fal-client` (only its hosts set), the cURL example
as written (only the host changed), and the JS example by `@fal-ai/client` in Node (the hosts
rewritten by its documented request middleware), polling and streaming. The example's video is
fal's CDN URL, answered by a local HTTPS server the service is pointed at (`--connect-to`).

Each run is an extension of the 4 s, 320x180 clip with sound by fal's default 121 frames, checked
as fal defines it: the whole clip with 121 new frames after it, at its rate, with sound."""

import ast
import json
import re
import ssl
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import pytest

from ltxserve import media
from ltxserve.engine.weights import WeightSet
from ltxserve.request import CameraMotion
from tests.conftest import FAL_VIDEO, FalServer
from tests.httpfiles import Route, file_server
from tests.measure import play

SPEC = (Path(__file__).parent / "data" / "fal-ltx-2.3-22b-extend-video-lora.md").read_text()
JS_CLIENT = "@fal-ai/client@1.10.1"
SOURCE_FRAMES = 96


def spec_block(section: str, language: str) -> str:
    """The page's `language` code in its `section` (past the install commands)."""
    return SPEC.split(f"### {section}\n")[1].split(f"```{language}\n")[1].split("```")[0]


def check_extension(server: FalServer, output: dict[str, Any], tmp_path: Path) -> None:
    """fal's extension: the whole input and `num_frames` new frames after it, at its rate, with sound."""
    video = output["video"]
    assert (video["width"], video["height"], video["fps"]) == (320, 180, 24.0)
    assert video["num_frames"] == SOURCE_FRAMES + 121 and video["content_type"] == "video/mp4"
    given = "Continue the scene naturally, maintaining the same style and motion."
    assert output["prompt"] and output["prompt"] != given, "expanded by the (tiny, random) Gemma: by default"
    assert isinstance(output["seed"], int)
    path = tmp_path / video["file_name"]
    trusting = ssl.create_default_context(cafile=str(server.ca_bundle))
    path.write_bytes(httpx.get(video["url"], verify=trusting, timeout=60).content)
    info = media.probe(path)
    assert info.video is not None and info.video.frame_count == SOURCE_FRAMES + 121
    assert info.audio is not None and float(info.video.duration) == pytest.approx(217 / 24, abs=0.05)


def test_the_python_example_as_written(fal_server: FalServer, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", spec_block("Python", "python")],
        env=fal_server.environment(),
        capture_output=True,
        text=True,
        timeout=480,
    )
    assert done.returncode == 0, done.stderr
    *logs, printed = done.stdout.strip().splitlines()
    assert "queued" in logs and any(line.startswith("denoising: step") for line in logs)
    check_extension(fal_server, ast.literal_eval(printed), tmp_path)


def test_the_curl_example_with_the_host_changed(fal_server: FalServer, tmp_path: Path) -> None:
    command = spec_block("cURL", "bash").replace("https://fal.run/", f"{fal_server.url}/fal/run/")
    done = subprocess.run(
        ["bash", "-c", command], env=fal_server.environment(), capture_output=True, text=True, timeout=480
    )
    assert done.returncode == 0, done.stderr
    check_extension(fal_server, json.loads(done.stdout), tmp_path)


@pytest.fixture(scope="module")
def js_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fal's JS client, installed from npm into a directory of its own."""
    directory = tmp_path_factory.mktemp("js")
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(directory), JS_CLIENT],
        check=True,
        timeout=300,
    )
    return directory


JS_HOSTS = """
fal.config({
  requestMiddleware: async (request) => ({
    ...request,
    url: request.url
      .replace("https://queue.fal.run/", `https://${process.env.FAL_QUEUE_RUN_HOST}/`)
      .replace("https://fal.run/", `https://${process.env.FAL_RUN_HOST}/`),
  }),
});
"""
"""The one change to the page's example: where the client sends its requests."""


@pytest.mark.parametrize("mode", ["polling", "streaming"])
def test_the_js_example_through_the_js_client(
    fal_server: FalServer, js_client: Path, tmp_path: Path, mode: str
) -> None:
    example = spec_block("JavaScript", "javascript")
    client = 'import { fal } from "@fal-ai/client";\n'
    example = example.replace(client, client + JS_HOSTS)
    example = example.replace("  logs: true,\n", f'  logs: true,\n  mode: "{mode}",\n')
    example = example.replace("console.log(result.data);", "console.log(JSON.stringify(result.data));")
    script = js_client / f"example-{mode}.mjs"
    script.write_text(example)
    done = subprocess.run(
        ["node", str(script)], env=fal_server.environment(), capture_output=True, text=True, timeout=480
    )
    assert done.returncode == 0, done.stderr
    *logs, data, request_id = done.stdout.strip().splitlines()
    assert re.fullmatch(r"[0-9a-f-]{36}", request_id)
    assert any(line.startswith("denoising: step") for line in logs)
    check_extension(fal_server, json.loads(data), tmp_path)


def test_a_lora_by_url_is_fetched_checked_and_applied_by_the_engine(
    fal_server: FalServer, tiny_weights: WeightSet, tmp_path: Path
) -> None:
    """A LoRA that fits the model runs; one that does not is the request's 422, naming it."""
    import torch
    from safetensors.torch import save_file

    misfit = tmp_path / "misfit.safetensors"
    save_file({"diffusion_model.nowhere.lora_A.weight": torch.zeros(2, 2)}, str(misfit))
    fits = tiny_weights.camera_loras[CameraMotion.DOLLY_IN].read_bytes()
    routes = {"/fits.safetensors": Route(fits), "/misfit.safetensors": Route(misfit.read_bytes())}
    trusting = ssl.create_default_context(cafile=str(fal_server.ca_bundle))
    headers = {"Authorization": f"Key {fal_server.key}"}
    body = {"prompt": "waves", "video_size": {"width": 128, "height": 128}, "num_frames": 9}
    with file_server(routes) as host, httpx.Client(verify=trusting, headers=headers, timeout=480) as http:
        run = f"{fal_server.url}/fal/run/fal-ai/ltx-2.3-22b/text-to-video/lora"
        applied = http.post(
            run, json={**body, "loras": [{"path": host.url("/fits.safetensors"), "scale": 0.7}]}
        )
        assert applied.status_code == 200, applied.text
        assert applied.json()["video"]["num_frames"] == 9
        refused = http.post(run, json={**body, "loras": [{"path": host.url("/misfit.safetensors")}]})
        assert refused.status_code == 422, refused.text
        (problem,) = refused.json()["detail"]
        assert problem["loc"] == ["body", "loras", 0] and "does not fit this model" in problem["msg"]


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_an_extension_obeys_fals_semantics(fal_server: FalServer, direction: str, tmp_path: Path) -> None:
    """`num_frames` new frames, forward after the input and backward before it, the input's own frames
    kept where they land (read back by their printed numbers), `num_context_frames` of context as
    whole latent frames (reported in the logs), the input's rate, and sound all through."""
    trusting = ssl.create_default_context(cafile=str(fal_server.ca_bundle))
    body = {"prompt": "waves", "video_url": f"https://v3b.fal.media{FAL_VIDEO}",
            "num_frames": 24, "num_context_frames": 25, "extend_direction": direction,
            "enable_prompt_expansion": False}  # fmt: skip
    headers = {"Authorization": f"Key {fal_server.key}"}
    with httpx.Client(verify=trusting, headers=headers, timeout=480) as http:
        queue = f"{fal_server.url}/fal/queue/fal-ai/ltx-2.3-22b/extend-video"
        response = http.post(queue, json=body)
        assert response.status_code == 200, response.text
        submitted = response.json()
        while (status := http.get(submitted["status_url"], params={"logs": 1})).status_code == 202:
            time.sleep(0.2)
        logs = [line["message"] for line in status.json()["logs"]]
        video = http.get(submitted["response_url"]).json()["video"]
        path = tmp_path / "extended.mp4"
        path.write_bytes(http.get(video["url"]).content)
    (done,) = [line for line in logs if line.startswith("done:")]
    context = 25 if direction == "forward" else 24  # 8a+1 frames before new ones, 8a after them
    assert (
        f"context_frames {context}" in done and f"edge {'end' if direction == 'forward' else 'start'}" in done
    )
    played = play(path)
    assert len(played.codes) == SOURCE_FRAMES + 24 and video["fps"] == 24.0
    kept = played.codes[:SOURCE_FRAMES] if direction == "forward" else played.codes[24:]
    assert kept == list(range(SOURCE_FRAMES)), "the input's frames, where fal puts them"
    assert played.audio is not None and abs(played.audio_end - played.video_end) < Fraction(1, 24)


def test_an_extension_at_another_rate_and_size_re_times_and_re_sizes_the_input(
    fal_server: FalServer, tmp_path: Path
) -> None:
    """`match_input_fps: false` and a `video_size`: the input is shown at `fps` (each frame the one on
    screen at its time) and at that size, then extended there; the sound runs through."""
    trusting = ssl.create_default_context(cafile=str(fal_server.ca_bundle))
    body = {"prompt": "waves", "video_url": f"https://v3b.fal.media{FAL_VIDEO}", "num_frames": 9,
            "match_input_fps": False, "fps": 12, "video_size": {"width": 256, "height": 144},
            "enable_prompt_expansion": False}  # fmt: skip
    headers = {"Authorization": f"Key {fal_server.key}"}
    with httpx.Client(verify=trusting, headers=headers, timeout=480) as http:
        response = http.post(f"{fal_server.url}/fal/run/fal-ai/ltx-2.3-22b/extend-video", json=body)
        assert response.status_code == 200, response.text
        video = response.json()["video"]
        path = tmp_path / "extended.mp4"
        path.write_bytes(http.get(video["url"]).content)
    shown = SOURCE_FRAMES // 2
    assert (video["width"], video["height"], video["fps"], video["num_frames"]) == (256, 144, 12.0, shown + 9)
    played = play(path)
    assert played.codes[:shown] == list(range(0, SOURCE_FRAMES, 2)), "every other input frame, at 12 fps"
    assert played.audio is not None and abs(played.audio_end - played.video_end) < Fraction(1, 12)
