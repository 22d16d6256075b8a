"""Small, fast requests for the engine tests: tiny sizes, few steps, fixed seeds."""

from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ltxserve import media
from ltxserve.engine.engine import Engine, EngineInputs, EngineResult
from ltxserve.media.testsrc import synthetic_clip
from ltxserve.request import Duration, GenerationRequest, Pipeline, Sampling, Task

FPS = Fraction(24)
FAST = Sampling(pipeline=Pipeline.ONE_STAGE, steps=2)


def text_request(**changes: Any) -> GenerationRequest:
    base = GenerationRequest(
        Task.TEXT_TO_VIDEO,
        "a cat walks on the beach",
        seed=1,
        width=64,
        height=64,
        duration=Duration.of_frames(9),
        fps=FPS,
        sampling=FAST,
    )
    return replace(base, **changes)


def generate(engine: Engine, request: GenerationRequest, inputs: EngineInputs | None = None) -> EngineResult:
    return engine.run(request, engine.plan(request), inputs or EngineInputs())


def frames_of(engine: Engine, request: GenerationRequest, inputs: EngineInputs | None = None) -> np.ndarray:
    result = generate(engine, request, inputs)
    assert result.frames is not None
    return result.frames


def write_source(
    path: Path, frames: int = 49, audio: bool = True, width: int = 160, height: int = 96
) -> Path:
    """A numbered, beeping clip to extend or retake (beeps on frames 0, 12, 24, …)."""
    clip = synthetic_clip(width, height, frames, FPS, sample_rate=48_000 if audio else None, beep_every=12)
    media.encode_clip(path, clip)
    return path
