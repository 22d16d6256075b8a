"""`ltxserve generate | extend | retake` as a user runs them: real processes, demo weights."""

import json
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from ltxserve import media
from ltxserve.media.testsrc import read_code, synthetic_clip
from tests.engine_support import FPS, write_source
from tests.measure import beep_times, match_onsets, play
from tests.mediafiles import write_image
from tests.test_media_probe import CLI


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), *args, "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=300
    )


def notes(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    data: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


def test_generate_text_to_video(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "cat.mp4"
    fast = "--size 96x64 --duration 0.4 --pipeline one_stage --steps 2 --seed 4"
    result = run(data_dir, "generate", "-p", "a cat", "-o", str(out), *fast.split())
    assert result.returncode == 0, result.stderr
    assert "demo weights" in result.stderr and "(demo: noise)" in result.stdout
    info = media.probe(out)
    assert info.video is not None and (info.video.width, info.video.height, info.video.frame_count) == (
        96,
        64,
        10,
    )
    assert notes(result)["seed"] == 4
    with av.open(str(out)) as container:
        assert "ltxserve demo" in container.metadata.get("comment", "")


def test_generate_from_images_and_audio(data_dir: Path, tmp_path: Path) -> None:
    image = write_image(tmp_path / "first.png", np.full((64, 96, 3), 200, np.uint8), "png", "image2")
    sound = write_source(tmp_path / "sound.mp4", frames=24)
    out = tmp_path / "out.webm"
    fast = ["--size", "96x64", "--duration", "0.5", "--pipeline", "one_stage", "--steps", "2"]
    result = run(
        data_dir,
        "generate",
        "-p",
        "a cat",
        "-o",
        str(out),
        "--image",
        str(image),
        "--last-image",
        str(image),
        *fast,
    )
    assert result.returncode == 0, result.stderr
    assert media.probe(out).container == "webm"
    out = tmp_path / "a2v.mp4"
    result = run(data_dir, "generate", "-p", "music", "-o", str(out), "--audio", str(sound), *fast)
    assert result.returncode == 0, result.stderr
    assert media.probe(out).has_audio


def test_extend(data_dir: Path, tmp_path: Path) -> None:
    source = write_source(tmp_path / "source.mp4", frames=49)
    out = tmp_path / "longer.mp4"
    options = ["--duration", "1", "--mode", "start", "--pipeline", "one_stage", "--steps", "2"]
    result = run(data_dir, "extend", str(source), *options, "-o", str(out), "-p", "the cat arrives")
    assert result.returncode == 0, result.stderr
    frames = media.read_frames(out)
    assert len(frames) == 73 and [read_code(f) for f in frames[24:]] == list(range(49))
    assert notes(result)["edge"] == "start"
    # the source's own packets, copied: its frames come back bit for bit, and the result says so
    assert np.array_equal(frames[24:], media.read_frames(source))
    output = notes(result)["output"]
    assert isinstance(output, dict)
    assert (output["copied_frames"], output["encoded_frames"], output["full_encode"]) == (49, 24, None)


def test_retake(data_dir: Path, tmp_path: Path) -> None:
    source = write_source(tmp_path / "source.mp4", frames=73)
    out = tmp_path / "retaken.mp4"
    window = ["--start", "1", "--duration", "1", "--mode", "replace_video", "--steps", "2"]
    result = run(data_dir, "retake", str(source), *window, "-p", "a dog", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert notes(result)["video_window_frames"] == [17, 49]
    codes = [read_code(f) for f in media.read_frames(out)]
    assert codes[:17] == list(range(17)) and codes[49:] == list(range(49, 73))


ERRORS = [
    ("extend {missing} --duration 1 -o {out}", "extend.video: no such file"),
    ("retake {source} --start 1 --duration 2 -p x -o {out}", "retake.duration: the window ends"),
    ("extend {source} --duration 91 --max-extend 90 -o {out}", "extend.duration: at most 90 s"),
    ("generate -p x -o {out} --pipeline distilled --steps 5", "sampling.steps: cannot be set"),
    ("generate -p x -o {avi}", "must end in .mp4, .webm, .mov or .gif"),
    ("generate -p x -o {out} --size 4096x2160", "width: 4096x2160 is larger than 3840x2160"),
]


@pytest.mark.parametrize(("command", "message"), ERRORS)
def test_errors_are_one_line_and_non_zero(data_dir: Path, tmp_path: Path, command: str, message: str) -> None:
    source = write_source(tmp_path / "source.mp4", frames=49)
    out, missing, avi = tmp_path / "x.mp4", tmp_path / "missing.mp4", tmp_path / "x.avi"
    result = run(data_dir, *command.format(source=source, out=out, missing=missing, avi=avi).split())
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("ltxserve: error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert not out.exists()


def test_demo_weights_are_written_on_first_use(tmp_path: Path) -> None:
    fast = ["--size", "64x64", "--duration", "0.1", "--pipeline", "one_stage", "--steps", "1"]
    result = run(tmp_path / "fresh", "generate", "-p", "x", "-o", str(tmp_path / "x.mp4"), *fast)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "fresh" / "weights" / "tiny" / "ltx-2.3-22b-dev.safetensors").is_file()


def test_extend_and_retake_an_ordinary_clip(data_dir: Path, tmp_path: Path) -> None:
    """The size users bring (320×180, 73 frames at 24 fps, stereo AAC) with the default pipelines and
    steps: the source's frames and beeps are kept, the new part has the source's size and sound."""
    source = tmp_path / "good.mp4"
    media.encode_clip(source, synthetic_clip(320, 180, 73, Fraction(24), beep_every=12))
    longer = tmp_path / "longer.mp4"
    result = run(data_dir, "extend", str(source), "--duration", "2", "-p", "waves", "-o", str(longer))
    assert result.returncode == 0, result.stderr
    assert notes(result)["new_frames"] == 48 and notes(result)["context_frames"] == 73
    played = play(longer)
    info = media.probe(longer)
    assert info.video is not None and (info.video.width, info.video.height) == (320, 180)
    assert played.codes[:73] == list(range(73)) and len(played.codes) == 121
    assert info.audio is not None and info.audio.channels == 2
    assert abs(played.audio_end - played.video_end) < Fraction(1, 24)
    kept = [t for t in played.onsets() if t < 72 / 24]
    assert max(abs(offset) for offset in match_onsets(kept, beep_times(list(range(0, 72, 12)), FPS))) < 1

    retaken = tmp_path / "retaken.mp4"
    window = ["--start", "0.5", "--duration", "2", "--mode", "replace_audio_and_video"]
    result = run(data_dir, "retake", str(source), *window, "-p", "a dog", "-o", str(retaken))
    assert result.returncode == 0, result.stderr
    decided = json.loads(result.stdout.strip().splitlines()[-1])
    start, stop = (int(frame) for frame in decided["video_window_frames"])
    audio_start, audio_stop = (float(second) for second in decided["audio_window_seconds"])
    assert (start, stop) == (9, 65) and audio_start <= 0.5 and audio_stop >= 2.5
    played = play(retaken)
    assert len(played.codes) == 73 and played.codes[:start] + played.codes[stop:] == [
        *range(start),
        *range(stop, 73),
    ]
    assert abs(played.audio_end - played.video_end) < Fraction(1, 24)
    outside = [t for t in played.onsets() if t < audio_start - 0.05 or t > audio_stop + 0.05]
    expected = [t for t in beep_times(list(range(0, 73, 12)), FPS) if t < audio_start or t > audio_stop]
    assert max(abs(offset) for offset in match_onsets(outside, expected)) < 1


def test_dtype_is_chosen_and_timings_are_printed(data_dir: Path, tmp_path: Path) -> None:
    fast = ["--size", "64x64", "--duration", "0.1", "--pipeline", "one_stage", "--steps", "1", "--seed", "3"]
    frames = {}
    for dtype in ("float32", "bfloat16"):
        out = tmp_path / f"{dtype}.mp4"
        result = run(data_dir, "generate", "-p", "x", "-o", str(out), *fast, "--dtype", dtype, "--timings")
        assert result.returncode == 0, result.stderr
        seconds = json.loads(result.stdout.strip().splitlines()[-1])["seconds"]
        stages = {
            "starting",
            "loading models",
            "encoding prompt",
            "denoising",
            "decoding video",
            "writing output",
        }
        assert stages <= set(seconds) and all(value >= 0 for value in seconds.values())
        frames[dtype] = media.read_frames(out)
    assert not np.array_equal(frames["float32"], frames["bfloat16"]), "the two dtypes compute differently"


def test_serve_gives_its_workers_its_engine_options() -> None:
    from ltxserve.cli_server import _worker_args, engine_options
    from ltxserve.engine.options import ComputeDtype, EngineOptions
    from ltxserve.engine.planning import Chaining
    from ltxserve.settings import Settings

    longer = Chaining(longest=Fraction(90))
    engine = EngineOptions(device="cpu", dtype=ComputeDtype.BFLOAT16, fp8=True, chaining=longer)
    args = _worker_args(Settings(engine=engine), "info")
    assert args[args.index("--dtype") + 1] == "bfloat16" and args[args.index("--device") + 1] == "cpu"
    assert "--fp8" in args and "--offload" not in args
    assert args[args.index("--max-extend") + 1] == "90.0"
    assert engine_options("cpu", ComputeDtype.BFLOAT16, True, False, 90.0) == engine
