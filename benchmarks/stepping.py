"""What fal's `acceleration` and `use_restart_sampling` cost or save: the warm engine on one guided
two-stage request, with the first pass's model run on every step (baseline), on one step in 2, 3
or 4 (`step_reuse` 1-3: fal's regular, high, full), and with fresh noise at each step.

    .venv/bin/python benchmarks/stepping.py [--runs N] [--steps N] [--weights DIR]

Each setting runs `--runs` times after one warm-up; the table has the median seconds of the whole
request and of the first pass, and each one's ratio to the baseline. The tiny weights make the
model cheap beside the VAE, so the first pass's ratio is the one that carries to real weights.
"""

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

SIZE, FRAMES, SEED = (320, 180), 73, 5
SETTINGS = {
    "baseline": {},
    "step_reuse=1 (regular)": {"step_reuse": 1},
    "step_reuse=2 (high)": {"step_reuse": 2},
    "step_reuse=3 (full)": {"step_reuse": 3},
    "noise_injection": {"noise_injection": True},
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30, help="guided steps of the first pass")
    parser.add_argument("--weights", type=Path, help="a weight directory (default: a fresh tiny set)")
    args = parser.parse_args()

    from ltxserve.engine.engine import Engine, EngineInputs
    from ltxserve.engine.progress import Progress
    from ltxserve.engine.tiny import write_tiny_weights
    from ltxserve.engine.weights import discover
    from ltxserve.request import Duration, GenerationRequest, Sampling, Task

    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(discover(args.weights or write_tiny_weights(Path(tmp) / "tiny")))
        base = GenerationRequest(
            Task.TEXT_TO_VIDEO, "a lighthouse at dusk, waves crashing", seed=SEED, width=SIZE[0],
            height=SIZE[1], duration=Duration.of_frames(FRAMES), fps=Fraction(24),
            sampling=Sampling(steps=args.steps),
        )  # fmt: skip
        rows = {}
        for name, knobs in SETTINGS.items():
            request = replace(base, sampling=replace(base.sampling, **knobs))  # type: ignore[arg-type]
            totals, passes = [], []
            for _ in range(args.runs + 1):
                marks: dict[str, float] = {}

                def progress(report: Progress, marks: dict[str, float] = marks) -> None:
                    marks.setdefault(report.stage, time.perf_counter())

                started = time.perf_counter()
                engine.run(request, engine.plan(request), EngineInputs(), progress=progress)
                totals.append(time.perf_counter() - started)
                passes.append(marks.get("upsampling", totals[-1] + started) - marks["denoising"])
            rows[name] = (statistics.median(totals[1:]), statistics.median(passes[1:]))
    width, height = SIZE
    print(f"request: two-stage text-to-video, {width}x{height}, {FRAMES} frames, {args.steps} guided steps")
    print(f"\n{'':<26}{'request':>10}{'ratio':>8}{'first pass':>13}{'ratio':>8}")
    total0, pass0 = rows["baseline"]
    for name, (total, first) in rows.items():
        print(f"{name:<26}{total:>9.2f}s{total / total0:>7.2f}x{first:>12.2f}s{first / pass0:>7.2f}x")


if __name__ == "__main__":
    main()
