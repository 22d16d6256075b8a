"""The CPU demo as a new user meets it: every task through the `ltxserve` command, stage by stage.

    .venv/bin/python benchmarks/demo.py [--sizes small,1080p] [--tasks extend-end,retake-both,...]
                                        [--isas native,avx2] [--cap SECONDS] [--json FILE]

Each task runs as its own `ltxserve` process with the tiny demo weights, so the wall time is what a
user waits for: start-up and model loading included. Sizes: 320×180 × 3 s (a 73-frame source clip
with sound for extend and retake) and 1920×1080 × 5 s. Each run is made in float32 (the CPU default)
and with `--dtype bfloat16` (what every run computed in before), side by side with the ratio, and
each of those also with the CPU limited to AVX2 (`ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2`),
where bfloat16 is emulated: most CPUs users try the demo on. A run longer than --cap seconds is
stopped and shown as "> cap"; a configuration that went over the cap at 320×180 is not tried at
1080p. The goal on a 2-core machine: extend by 2 s and a 2 s retake of the 3 s clip, each ≤ 30 s.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
from PIL import Image

CLI = str(Path(sys.executable).with_name("ltxserve"))
AVX2 = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
DTYPES = ("float32", "bfloat16")
GOAL_SECONDS = 30.0
GOAL_TASKS = ("extend-end", "retake-both")


@dataclass(frozen=True)
class Size:
    name: str
    width: int
    height: int
    seconds: int
    source_frames: int


SIZES = {
    "small": Size("320x180 x 3 s", 320, 180, 3, 73),
    "1080p": Size("1920x1080 x 5 s", 1920, 1080, 5, 120),
}


@dataclass(frozen=True)
class Inputs:
    clip: Path
    first: Path
    last: Path
    audio: Path


def task_args(task: str, size: Size, inputs: Inputs) -> list[str]:
    shape = ["--size", f"{size.width}x{size.height}", "--duration", str(size.seconds)]
    retake = [str(inputs.clip), "--start", "0.5", "--duration", "2"]
    return {
        "text-to-video": ["generate", *shape],
        "image-to-video": [
            "generate",
            *shape,
            "--image",
            str(inputs.first),
            "--last-image",
            str(inputs.last),
        ],
        "audio-to-video": ["generate", *shape, "--audio", str(inputs.audio)],
        "extend-end": ["extend", str(inputs.clip), "--duration", "2", "--mode", "end"],
        "extend-start": ["extend", str(inputs.clip), "--duration", "2", "--mode", "start"],
        "retake-video": ["retake", *retake, "--mode", "replace_video"],
        "retake-audio": ["retake", *retake, "--mode", "replace_audio"],
        "retake-both": ["retake", *retake, "--mode", "replace_audio_and_video"],
    }[task]


TASKS = (
    "text-to-video",
    "image-to-video",
    "audio-to-video",
    "extend-end",
    "extend-start",
    "retake-video",
    "retake-audio",
    "retake-both",
)


@dataclass
class Run:
    task: str
    size: str
    dtype: str
    isa: str
    wall: float | None = None
    """None: stopped at the cap."""
    stages: dict[str, float] = field(default_factory=dict)


def run_once(args: list[str], dtype: str, isa: str, weights: Path, output: Path, cap: float) -> Run:
    environment = {**os.environ, **(AVX2 if isa == "avx2" else {})}
    command = [CLI, *args, "-p", "waves roll in", "--seed", "1", "--weights", str(weights)]
    command += ["--dtype", dtype, "--timings", "-o", str(output)]
    started = time.perf_counter()
    run = Run(args[0], "", dtype, isa)
    # A session of its own: at the cap the whole group goes, the probe sandbox's process included
    # (it holds the pipes open, so killing the command alone would leave this waiting).
    process = subprocess.Popen(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        stdout, stderr = process.communicate(timeout=cap)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return run
    run.wall = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{stderr}")
    run.stages = json.loads(stdout.strip().splitlines()[-1])["seconds"]
    run.stages["process start"] = run.wall - sum(run.stages.values())
    return run


def make_inputs(directory: Path, size: Size, weights: Path) -> Inputs:
    clip = directory / f"clip-{size.width}.mp4"
    subprocess.run(
        [CLI, "testsrc", str(clip), "--size", f"{size.width}x{size.height}",
         "--duration", str(size.source_frames / 24)],
        check=True, capture_output=True,
    )  # fmt: skip
    frames = [frame.to_ndarray(format="rgb24") for frame in av.open(str(clip)).decode(video=0)]
    first, last = directory / f"first-{size.width}.png", directory / f"last-{size.width}.png"
    for path, pixels in ((first, frames[0]), (last, frames[-1])):
        Image.fromarray(pixels).save(path)
    audio = directory / f"audio-{size.width}.wav"
    write_tone(audio, size.seconds)
    return Inputs(clip, first, last, audio)


def write_tone(path: Path, seconds: int, rate: int = 48_000) -> None:
    t = np.arange(seconds * rate) / rate
    samples = (0.3 * np.sin(2 * np.pi * 440 * t) * (np.sin(2 * np.pi * 2 * t) > 0)).astype(np.float32)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples[None], format="flt", layout="mono")
        frame.sample_rate = rate
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def seconds(value: float | None, cap: float) -> str:
    return f"> {cap:.0f}" if value is None else f"{value:.1f}"


def ratio(slow: float | None, fast: float | None) -> str:
    if fast is None:
        return "-"
    if slow is None:
        return "> cap"
    return f"{slow / fast:.1f}x"


def print_tables(runs: list[Run], isas: list[str], cap: float) -> None:
    for size in dict.fromkeys(run.size for run in runs):
        found = {(r.task, r.dtype, r.isa): r for r in runs if r.size == size}
        print(f"\n## {size}: wall seconds from the command's start (models loaded in each run)\n")
        header = ["task"]
        for isa in isas:
            header += [f"float32 {isa}", f"bfloat16 {isa}", f"bf16/f32 {isa}"]
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for task in dict.fromkeys(r.task for r in runs if r.size == size):
            row = [task]
            for isa in isas:
                f32, bf16 = found.get((task, "float32", isa)), found.get((task, "bfloat16", isa))
                f32_wall = f32.wall if f32 else None
                bf16_wall = bf16.wall if bf16 else None
                row += [
                    seconds(f32_wall, cap) if f32 else "not run",
                    seconds(bf16_wall, cap) if bf16 else "not run (over the cap at 320x180)",
                    ratio(bf16_wall, f32_wall) if bf16 else "-",
                ]
            print("| " + " | ".join(row) + " |")
        for isa in isas:
            print(f"\n### {size}, float32, {isa}: seconds per stage\n")
            stage_runs = [
                r for r in runs if r.size == size and r.dtype == "float32" and r.isa == isa and r.wall
            ]
            stages = list(dict.fromkeys(stage for r in stage_runs for stage in r.stages))
            print("| task | " + " | ".join(stages) + " | total |")
            print("|" + "---|" * (len(stages) + 2))
            for r in stage_runs:
                cells = [f"{r.stages[s]:.2f}" if s in r.stages else "" for s in stages]
                print(f"| {r.task} | " + " | ".join(cells) + f" | {r.wall:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="small,1080p")
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--isas", default="native,avx2")
    parser.add_argument("--dtypes", default=",".join(DTYPES))
    parser.add_argument("--cap", type=float, default=120.0, help="Seconds before a run is stopped.")
    parser.add_argument("--json", type=Path, help="Also write every run here, as each ends.")
    args = parser.parse_args()
    tasks, isas = args.tasks.split(","), args.isas.split(",")
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        weights = directory / "weights"
        subprocess.run([CLI, "weights", "tiny", str(weights)], check=True, capture_output=True)
        runs: list[Run] = []
        over_cap: set[tuple[str, str, str]] = set()
        for size_key in args.sizes.split(","):
            size = SIZES[size_key]
            inputs = make_inputs(directory, size, weights)
            for task in tasks:
                for isa in isas:
                    for dtype in args.dtypes.split(","):
                        if (task, dtype, isa) in over_cap:
                            continue
                        output = directory / f"{task}.mp4"
                        run = run_once(task_args(task, size, inputs), dtype, isa, weights, output, args.cap)
                        run.task, run.size = task, size.name
                        runs.append(run)
                        if run.wall is None:
                            over_cap.add((task, dtype, isa))
                        print(f"{size.name} {task:<15} {dtype:<8} {isa:<6} {seconds(run.wall, args.cap)} s",
                              file=sys.stderr, flush=True)  # fmt: skip
                        if args.json:  # after each run: a long run stopped halfway keeps what it measured
                            args.json.write_text(json.dumps([r.__dict__ for r in runs], indent=1))
        print_tables(runs, isas, args.cap)
        small = [r for r in runs if r.size == SIZES["small"].name and r.task in GOAL_TASKS]
        for r in small:
            if r.dtype == "float32":
                verdict = "meets" if r.wall is not None and r.wall <= GOAL_SECONDS else "misses"
                wall = seconds(r.wall, args.cap)
                print(f"\n{r.task} ({r.isa}): {wall} s, {verdict} the {GOAL_SECONDS:.0f} s goal")


if __name__ == "__main__":
    main()
