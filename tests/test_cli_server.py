"""`ltxserve generate | extend | retake --server URL` (or $LTXSERVE_URL, $LTXSERVE_KEY): the CLI as a
user runs it (a real process) against a server over real HTTP (uvicorn, a worker drawing the planned
output's shape): local files uploaded, the result downloaded and described as a local run describes
it; refusals, failures and an unreachable server as one line and a non-zero status."""

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest

from ltxserve import media
from ltxserve.api.auth import LOCAL_OWNER
from tests.inprocess import api
from tests.test_media_probe import CLI

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def ltxserve(*args: str, environment: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [str(CLI), *args]
    environ = {**os.environ, **(environment or {})}
    return await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=300, env=environ
    )


async def test_retake_and_extend_an_ordinary_clip_on_a_server(tmp_path: Path, clip: Path) -> None:
    async with api(tmp_path, worker=True, over_http=True) as served:
        url = str(served.http.base_url)
        retaken = tmp_path / "retaken.mp4"
        retake = await ltxserve(
            "retake", str(clip), "--start", "1.5", "--duration", "2", "-p", "rain", "-o", str(retaken),
            "--seed", "7", "--server", url, "--timings",
        )  # fmt: skip
        assert retake.returncode == 0, retake.stderr
        wrote, decided, timings = retake.stdout.strip().splitlines()
        assert (
            wrote == f"wrote {retaken} (demo: noise): 320x180, 96 frames at 24 fps (4.000 s), audio 48000 Hz"
        )
        assert "demo weights" in retake.stderr, "the server's demo notice, passed on"
        notes = json.loads(decided)
        assert notes["seed"] == 7 and notes["video_window_frames"] == [33, 89], (
            "the window, snapped to latent frames"
        )
        assert "denoising" in json.loads(timings)["seconds"], "the server's stages, timed here"
        (job,) = await asyncio.to_thread(served.service.store.list_jobs, LOCAL_OWNER)
        assert job.request["task"] == "retake" and job.request["retake"]["video"]["uri"].startswith(
            "upload://"
        )
        assert job.request["sampling"]["pipeline"] == "one_stage", "the CLI's default, not a surface's"

        longer = tmp_path / "longer.webm"
        extend = await ltxserve(
            "extend", str(retaken), "--duration", "2", "--mode", "start", "-o", str(longer),
            environment={"LTXSERVE_URL": url},
        )  # fmt: skip
        assert extend.returncode == 0, extend.stderr
        info = media.probe(longer)
        assert info.container == "webm" and info.video is not None and info.audio is not None
        assert (info.video.width, info.video.height, info.video.frame_count) == (320, 180, 96 + 48)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--start", "1", "--duration", "2", "-p", "x" * 5001), "prompt: "),  # refused by the server at once
        (
            ("--start", "3.9", "--duration", "2", "-p", "x"),
            "retake",
        ),  # accepted, failed once the clip is read
    ],
)
async def test_refusals_and_failures_are_one_line_and_non_zero(
    tmp_path: Path, clip: Path, args: tuple[str, ...], message: str
) -> None:
    async with api(tmp_path, worker=True, over_http=True) as served:
        url = str(served.http.base_url)
        done = await ltxserve("retake", str(clip), *args, "-o", str(tmp_path / "o.mp4"), "--server", url)
    assert done.returncode == 1 and not (tmp_path / "o.mp4").exists()
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"ltxserve: error: {message}"), line


async def test_an_unreachable_server_or_a_local_only_option_is_one_line(tmp_path: Path, clip: Path) -> None:
    out = str(tmp_path / "o.mp4")
    unreachable = await ltxserve(
        "extend", str(clip), "--duration", "1", "-o", out, "--server", "http://127.0.0.1:9"
    )
    assert unreachable.returncode == 1
    assert unreachable.stderr.strip().startswith("ltxserve: error: http://127.0.0.1:9: ")
    both = await ltxserve(
        "extend", str(clip), "--duration", "1", "-o", out, "--server", "http://x", "--weights", "."
    )
    assert both.returncode == 1 and "--weights" in both.stderr
    async with api(tmp_path, over_http=True) as served:
        missing = await ltxserve("extend", str(tmp_path / "nope.mp4"), "--duration", "1", "-o", out,
                                 "--server", str(served.http.base_url))  # fmt: skip
    assert missing.returncode == 1
    assert missing.stderr.strip() == f"ltxserve: error: {tmp_path / 'nope.mp4'}: no such file"
