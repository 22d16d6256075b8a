"""What an extend costs as it grows past one model window: seconds and peak memory per length.

    .venv/bin/python benchmarks/long_extend.py [--size 320x180] [--seconds 20,60,120] [--steps 2]

An ordinary clip (the `testsrc` pattern with its tone, 4 s at 24 fps) is extended at its end by each
length through the `ltxserve` command with the demo weights (one stage, few steps: the cost of the
windows around the model, not of the model), each run in its own process. Printed side by side with
the one-window run as the baseline: the windows it took, wall seconds and seconds per window, the
process's peak RSS, and what holding the new frames in memory would have added (RGB, 3 bytes a
pixel). Flat memory means the peak RSS stays put while the windows grow: the first windows of a run
warm the allocators up (a one-window run peaks lower), so compare the chained runs with each other.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

CLI = str(Path(sys.executable).with_name("ltxserve"))
FPS, SOURCE_SECONDS = 24, 4


@dataclass(frozen=True)
class Run:
    seconds: int
    windows: int
    wall: float
    peak_rss: int
    """Bytes."""


def extend(source: Path, seconds: int, steps: int, output: Path) -> Run:
    command = [CLI, "extend", str(source), "--duration", str(seconds), "-p", "the sea at night",
               "--pipeline", "one_stage", "--steps", str(steps), "--max-extend", str(seconds),
               "-o", str(output)]  # fmt: skip
    out, log = output.with_suffix(".out"), output.with_suffix(".log")
    started = time.perf_counter()
    # files, not pipes: the progress bar would fill a pipe nobody reads while we wait
    with out.open("w") as stdout, log.open("w") as stderr:
        child = subprocess.Popen(command, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{log.read_text()[-2000:]}")
    decisions = json.loads(out.read_text().strip().splitlines()[-1])
    return Run(seconds, decisions.get("windows", 1), wall, usage.ru_maxrss * 1024)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="320x180")
    parser.add_argument("--seconds", default="20,60,120")
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args()
    width, height = (int(side) for side in args.size.split("x"))
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "clip.mp4"
        subprocess.run(
            [CLI, "testsrc", str(source), "--size", args.size, "--duration", str(SOURCE_SECONDS)],
            check=True, capture_output=True,
        )  # fmt: skip
        runs = [
            extend(source, int(seconds), args.steps, Path(scratch) / f"{seconds}.mp4")
            for seconds in args.seconds.split(",")
        ]
    base = runs[0]
    print(f"extending a {args.size} clip ({SOURCE_SECONDS} s at {FPS} fps, with sound) at its end, "
          f"one stage, {args.steps} steps, tiny weights")  # fmt: skip
    columns = ("added", "windows", "wall", "s/window", "peak RSS", "ratio", "frames held")
    print(" ".join(f"{name:>{width}}" for name, width in zip(columns, (6, 7, 8, 9, 9, 6, 12), strict=True)))
    for run in runs:
        held = run.seconds * FPS * width * height * 3
        print(
            f"{run.seconds:>5} s {run.windows:>7} {run.wall:>7.1f}s {run.wall / run.windows:>8.1f}s "
            f"{run.peak_rss / 2**20:>6.0f} MiB {run.peak_rss / base.peak_rss:>5.2f}x {held / 2**20:>8.0f} MiB"
        )


if __name__ == "__main__":
    main()
