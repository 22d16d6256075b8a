"""Warm ltxserve engine vs an ltx-pipelines 1.0.0 call, on the same tiny one-stage request.

    .venv/bin/python benchmarks/engine.py [--runs N] [--weights DIR]

Each side runs in its own process (so its peak RSS is its own): ltxserve builds its models once and
keeps them; ltx-pipelines rebuilds every model from disk on every call, as it does in production.
Both produce bit-identical output (tests/test_engine_parity.py); this measures what the rebuilding
costs. With the tiny weights the model work is small, so the ratio is mostly that overhead; at 22B
the rebuild is tens of seconds a call.
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

SIZE, FRAMES, STEPS, SEED = (192, 128), 33, 8, 3
PROMPT, NEGATIVE = "a cat walks on the beach at sunset", "blurry"


def run_ltxserve(weights: Path, runs: int) -> list[float]:
    from ltxserve.engine.engine import Engine, EngineInputs
    from ltxserve.engine.weights import discover
    from ltxserve.request import Duration, GenerationRequest, Guidance, Pipeline, Sampling, Task

    engine = Engine(discover(weights))
    request = GenerationRequest(
        Task.TEXT_TO_VIDEO, PROMPT, negative_prompt=NEGATIVE, seed=SEED, width=SIZE[0], height=SIZE[1],
        duration=Duration.of_frames(FRAMES), fps=Fraction(24),
        sampling=Sampling(
            pipeline=Pipeline.ONE_STAGE, steps=STEPS,
            video=Guidance(cfg=3.0, stg=1.0, rescale=0.7, modality=3.0, stg_blocks=(1,), skip_step=0),
            audio=Guidance(cfg=7.0, stg=1.0, rescale=0.7, modality=3.0, stg_blocks=(1,), skip_step=0),
        ),
    )  # fmt: skip
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        engine.run(request, engine.plan(request), EngineInputs())
        times.append(time.perf_counter() - started)
    return times


def run_official(weights: Path, runs: int) -> list[float]:
    import torch
    from ltx_core.components.guiders import MultiModalGuiderParams
    from ltx_pipelines import TI2VidOneStagePipeline

    from ltxserve.engine.gemma import gemma_architecture, read_gemma_config
    from ltxserve.engine.weights import discover

    if not torch.cuda.is_available():
        torch.cuda.synchronize = lambda *args, **kwargs: None  # ltx-pipelines 1.0.0 calls it unconditionally
    found = discover(weights)
    assert found.gemma is not None
    video = MultiModalGuiderParams(3.0, 1.0, [1], 0.7, 3.0, 0)
    audio = MultiModalGuiderParams(7.0, 1.0, [1], 0.7, 3.0, 0)
    pipeline = TI2VidOneStagePipeline(checkpoint_path=str(found.dev), gemma_root=str(found.gemma), loras=[])
    times = []
    with gemma_architecture(read_gemma_config(found.gemma)):
        for _ in range(runs):
            started = time.perf_counter()
            with torch.inference_mode():
                frames, _ = pipeline(
                    prompt=PROMPT, negative_prompt=NEGATIVE, seed=SEED, height=SIZE[1], width=SIZE[0],
                    num_frames=FRAMES, frame_rate=24.0, num_inference_steps=STEPS, video_guider_params=video,
                    audio_guider_params=audio, images=[],
                )  # fmt: skip
                list(frames)
            times.append(time.perf_counter() - started)
    return times


def side(name: str, weights: Path, runs: int) -> None:
    import torch

    torch.set_num_threads(2)
    times = run_ltxserve(weights, runs) if name == "ltxserve" else run_official(weights, runs)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"times": times, "peak_rss_mb": peak_mb}))


def measure(name: str, weights: Path, runs: int) -> dict[str, list[float] | float]:
    result = subprocess.run(
        [sys.executable, __file__, "--side", name, "--weights", str(weights), "--runs", str(runs)],
        capture_output=True,
        text=True,
        check=True,
    )
    data: dict[str, list[float] | float] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--weights", type=Path, help="a weight directory (default: a fresh tiny set)")
    parser.add_argument("--side", choices=["ltxserve", "official"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        side(args.side, args.weights, args.runs)
        return
    with tempfile.TemporaryDirectory() as tmp:
        weights = args.weights
        if weights is None:
            from ltxserve.engine.tiny import write_tiny_weights

            weights = write_tiny_weights(Path(tmp) / "tiny")
        ours, theirs = measure("ltxserve", weights, args.runs + 1), measure("official", weights, args.runs)
    ours_times, their_times = ours["times"], theirs["times"]
    assert isinstance(ours_times, list) and isinstance(their_times, list)
    warm, official = statistics.median(ours_times[1:]), statistics.median(their_times)
    width, height = SIZE
    print(f"request: one-stage text-to-video, {width}x{height}, {FRAMES} frames, {STEPS} guided steps")
    print(f"\n{'':<34}{'ltxserve':>14}{'ltx-pipelines':>16}")
    print(f"{'first call (builds models)':<34}{ours_times[0]:>13.2f}s{their_times[0]:>15.2f}s")
    print(f"{'median call (' + str(args.runs) + ' runs)':<34}{warm:>13.2f}s{official:>15.2f}s")
    print(f"{'peak RSS':<34}{ours['peak_rss_mb']:>12.0f}MB{theirs['peak_rss_mb']:>14.0f}MB")
    print(f"\nltx-pipelines / ltxserve (median): {official / warm:.2f}x")


if __name__ == "__main__":
    main()
