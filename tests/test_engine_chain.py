"""Extends longer than one model window, made window by window, on the tiny weights with windows of
49 frames (an operator's `Chaining.window`; the rules are the same at 505): the frame count, the
seams (each window continues exactly where the last stopped, from the video made so far), the sound
across the seams (sample by sample), progress, cancel, the seed, and memory flat in the number of
windows."""

import tracemalloc
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ltxserve import media
from ltxserve.chain import Extension, Retaken, run_passes
from ltxserve.engine.engine import Engine, EngineInputs, EngineResult
from ltxserve.engine.options import EngineOptions
from ltxserve.engine.planning import (
    ChainedExtendPlan,
    ChainedRetakePlan,
    Chaining,
    ExtendPlan,
    Plan,
    RetakePlan,
)
from ltxserve.engine.progress import CancelledError, CancelToken, Progress, ProgressCallback
from ltxserve.engine.weights import WeightSet
from ltxserve.media.splice import Edge
from ltxserve.render import render
from ltxserve.request import (
    Duration,
    ExtendOptions,
    GenerationRequest,
    MediaRef,
    RetakeMode,
    RetakeOptions,
    Task,
)
from tests.engine_support import FAST
from tests.measure import play

SOURCE_FRAMES = 96
"""The `clip` fixture: 4 s of 320x180 at 24 fps, with sound."""
CHAINING = Chaining(window=49, context=Fraction(1))
"""Windows of 49 frames seeing 1 s (17 frames at the end, 24 at the start): 32 or 25 new frames each."""


@dataclass
class Call:
    request: GenerationRequest
    plan: ExtendPlan | RetakePlan
    inputs: EngineInputs
    result: EngineResult

    @property
    def new_frames(self) -> int:
        assert isinstance(self.plan, ExtendPlan)
        return self.plan.new_frames


class RecordingEngine(Engine):
    """The real engine, keeping each window's request, plan, inputs and result."""

    def __init__(self, weights: WeightSet) -> None:
        super().__init__(weights, EngineOptions(chaining=CHAINING))
        self.calls: list[Call] = []

    def run(
        self,
        request: GenerationRequest,
        plan: Plan,
        inputs: EngineInputs,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> EngineResult:
        result = super().run(request, plan, inputs, progress, cancel)
        assert isinstance(plan, ExtendPlan | RetakePlan)
        self.calls.append(Call(request, plan, inputs, result))
        return result


@pytest.fixture(scope="module")
def engine(tiny_weights: WeightSet) -> RecordingEngine:
    return RecordingEngine(tiny_weights)


def extend_request(source: Path, frames: int, edge: Edge = Edge.END, **changes: Any) -> GenerationRequest:
    extend = ExtendOptions(MediaRef.file(source), Duration.of_frames(frames), edge)
    return replace(GenerationRequest(Task.EXTEND, "waves", seed=7, extend=extend, sampling=FAST), **changes)


def chain(
    engine: RecordingEngine, source: Path, request: GenerationRequest, scratch: Path, **kwargs: Any
) -> tuple[ChainedExtendPlan, Extension]:
    info = media.probe(source)
    assert info.video is not None
    plan = engine.plan(request, info.video)
    assert isinstance(plan, ChainedExtendPlan)
    engine.calls.clear()
    made = run_passes(engine, request, plan, source, info, scratch, **kwargs)
    assert isinstance(made, Extension)
    return plan, made


def in_play_order(calls: list[Call], edge: Edge) -> np.ndarray:
    parts = [call.result.frames for call in calls]
    assert all(part is not None for part in parts)
    return np.concatenate(parts if edge is Edge.END else parts[::-1])  # type: ignore[arg-type]


def nearest(frame: np.ndarray, candidates: np.ndarray) -> int:
    errors = ((candidates.astype(np.float32) - frame.astype(np.float32)) ** 2).mean(axis=(1, 2, 3))
    return int(errors.argmin())


@pytest.mark.parametrize(
    ("edge", "new", "context", "windows"),
    [
        (Edge.END, 72, None, 3),
        (Edge.START, 72, None, 3),
        # 16 + 10 new frames seeing 24: the second window sees the 16 made and 8 of the source
        (Edge.START, 26, 24, 2),
    ],
)
def test_a_long_extend_of_an_ordinary_clip_meets_itself_at_every_seam(
    engine: RecordingEngine,
    clip: Path,
    tmp_path: Path,
    edge: Edge,
    new: int,
    context: int | None,
    windows: int,
) -> None:
    request = extend_request(clip, new, edge)
    if context is not None:
        assert request.extend is not None
        request = replace(request, extend=replace(request.extend, context=Duration.of_frames(context)))
    reports: list[Progress] = []
    engine.calls.clear()
    rendered = render(engine, request, tmp_path / "out.mp4", progress=reports.append)
    calls = engine.calls
    assert rendered.notes["windows"] == len(calls) == windows
    assert rendered.notes["window_new_frames"] == [c.new_frames for c in calls]
    source = media.read_frames(clip)
    made = in_play_order(calls, edge)
    assert len(made) == new  # each window made exactly its share
    # each window saw the video made so far, next to where it adds: the source and the windows before
    so_far = source
    for call in calls:
        seen = call.inputs.video
        assert seen is not None
        part = call.result.frames
        assert part is not None
        if edge is Edge.END:
            assert np.array_equal(seen, so_far[len(so_far) - len(seen) :])
            so_far = np.concatenate([so_far, part])
        else:
            assert np.array_equal(seen, so_far[: len(seen)])
            so_far = np.concatenate([part, so_far])
        assert call.inputs.video_audio is not None  # and heard it
    # the file: the source's own frames as they were, then every new frame once, in order
    out = play(rendered.output)
    assert len(out.codes) == SOURCE_FRAMES + new
    source_codes = out.codes[:SOURCE_FRAMES] if edge is Edge.END else out.codes[new:]
    assert source_codes == list(range(SOURCE_FRAMES))
    decoded = media.read_frames(rendered.output)
    new_part = decoded[SOURCE_FRAMES:] if edge is Edge.END else decoded[:new]
    assert [nearest(frame, made) for frame in new_part] == list(range(new))
    # sound all the way, as long as the picture
    assert out.audio is not None
    assert abs(float(out.audio_end - out.video_end)) * 1000 <= 1.0
    assert np.abs(new_part_audio(out.audio, edge, new)).max() > 0
    # progress runs across the windows and never goes back
    done = [report.done for report in reports]
    assert done == sorted(done) and done[-1] >= 0.96
    steps = [r for r in reports if r.stage == "denoising"]
    assert [r.step for r in steps] == [0, 1, 2] * windows  # each window's steps, one after another


def new_part_audio(samples: np.ndarray, edge: Edge, new: int) -> np.ndarray:
    seam = round((SOURCE_FRAMES if edge is Edge.END else new) / 24 * 48_000)
    return samples[seam:] if edge is Edge.END else samples[:seam]


class TonedEngine(RecordingEngine):
    """The real engine whose sound is replaced by one 440 Hz tone on the output's clock, each window
    rendering it a little out of phase (as a model's rendition of its context is not the context): a
    seam's fade must carry one rendition into the next without a jump."""

    phase_error = 0.6

    def run(
        self,
        request: GenerationRequest,
        plan: Plan,
        inputs: EngineInputs,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> EngineResult:
        result = super().run(request, plan, inputs, progress, cancel)
        assert isinstance(plan, ExtendPlan | RetakePlan)
        assert result.audio is not None and result.seam_audio is not None
        window = len(self.calls) - 1
        fps, rate = plan.clip.fps, result.sample_rate
        # clip frame 0 on the output's clock
        if isinstance(plan, RetakePlan):
            origin = plan.clip_start
        elif plan.edge is Edge.END:
            origin = plan.context_start
        else:
            made_before = sum(call.new_frames for call in self.calls[:-1])
            origin = self.total_new - made_before - plan.kept[1]

        def tone(first_sample: int, count: int) -> np.ndarray:
            t = float(origin / fps) + (first_sample + np.arange(count)) / rate
            wave = 0.5 * np.sin(2 * np.pi * 440 * t + self.phase_error * window).astype(np.float32)
            return np.stack([wave, wave])

        if isinstance(plan, RetakePlan):
            assert plan.audio_window is not None
            first = round((plan.audio_window[0] - plan.clip_start / fps) * rate)
        else:
            first = media.sample_at(plan.kept[0], fps, rate)
        audio = tone(first, result.audio.shape[1])
        fade = result.seam_audio.shape[1]
        at_end = isinstance(plan, RetakePlan) or plan.edge is Edge.END
        beside = first - fade if at_end else first + audio.shape[1]
        toned = replace(result, audio=audio, seam_audio=tone(beside, fade))
        self.calls[-1].result = toned
        return toned

    total_new = 0


@pytest.fixture(scope="module")
def toned(tiny_weights: WeightSet) -> TonedEngine:
    return TonedEngine(tiny_weights)


@pytest.mark.parametrize("edge", list(Edge))
def test_the_sound_runs_on_across_the_seams_without_a_gap_or_a_click(
    toned: TonedEngine, clip: Path, tmp_path: Path, edge: Edge
) -> None:
    new = 72
    toned.total_new = new
    plan, made = chain(toned, clip, extend_request(clip, new, edge), tmp_path)
    audio = made.clip.audio
    assert audio is not None
    rate, samples = audio.sample_rate, audio.samples[0]
    assert len(samples) == media.samples_for(new, Fraction(24), rate)  # exactly under the frames
    tone_step = 2 * np.pi * 440 / rate * 0.5  # the tone's largest step from one sample to the next
    steps = np.abs(np.diff(samples))
    assert steps.max() <= tone_step * 1.05, "no click anywhere, the seams included"
    # no gap: every 5 ms holds the tone at full swing
    block = rate // 200
    peaks = [np.abs(samples[i : i + block]).max() for i in range(0, len(samples) - block, block)]
    assert min(peaks) > 0.45
    assert len(plan.windows) == 3


def test_cancel_stops_between_windows_and_leaves_no_file(
    engine: RecordingEngine, clip: Path, tmp_path: Path
) -> None:
    token = CancelToken()

    def cancel_in_the_second_window(report: Progress) -> None:
        if len(engine.calls) == 1 and report.stage == "denoising":
            token.cancel()

    output = tmp_path / "out.mp4"
    engine.calls.clear()
    with pytest.raises(CancelledError):
        render(engine, extend_request(clip, 100), output, progress=cancel_in_the_second_window, cancel=token)
    assert len(engine.calls) == 1 and not output.exists()


def test_the_same_seed_makes_the_same_video(engine: RecordingEngine, clip: Path, tmp_path: Path) -> None:
    runs = []
    for seed in (7, 7, 8):
        chain(engine, clip, extend_request(clip, 56, seed=seed), tmp_path)
        runs.append(in_play_order(engine.calls, Edge.END))
        assert [call.request.seed for call in engine.calls] == [seed, seed + 1]  # window i: seed + i
    assert np.array_equal(runs[0], runs[1]) and not np.array_equal(runs[0], runs[2])


def test_memory_stays_flat_in_the_number_of_windows(
    tiny_weights: WeightSet, clip: Path, tmp_path: Path
) -> None:
    engine = Engine(tiny_weights, EngineOptions(chaining=CHAINING))  # one that keeps nothing

    def peak(new: int) -> int:
        tracemalloc.start()
        try:
            rendered = render(engine, extend_request(clip, new), tmp_path / f"{new}.mp4")
            assert rendered.notes["windows"] == new // 32
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    window_frames = 32 * 320 * 180 * 3
    two, three = peak(64), peak(96)
    # holding the new part would add a window of frames; what grows is its sound (1.3 s more)
    assert three - two < window_frames / 2, (two, three)


# --- retakes longer than one pass --------------------------------------------------------------


def retake_request(source: Path, mode: RetakeMode) -> GenerationRequest:
    """2.5 s from 1 s of the clip (frames 24-84): with passes of 49 frames seeing 16 on each side,
    pieces of 16 frames: 24-40, 40-56, 56-72 and 72-88 (the last snapped out to whole latents)."""
    retake = RetakeOptions(MediaRef.file(source), Fraction(1), Fraction(5, 2), mode)
    return GenerationRequest(Task.RETAKE, "rain", seed=7, retake=retake, sampling=FAST)


def test_a_long_retake_of_an_ordinary_clip_meets_itself_at_every_seam(
    engine: RecordingEngine, clip: Path, tmp_path: Path
) -> None:
    engine.calls.clear()
    reports: list[Progress] = []
    request = retake_request(clip, RetakeMode.REPLACE_AUDIO_AND_VIDEO)  # sound alone: the test below
    rendered = render(engine, request, tmp_path / "out.mp4", progress=reports.append)
    calls = engine.calls
    assert rendered.notes["windows"] == len(calls) == 4
    source = media.read_frames(clip)
    so_far = source.copy()  # the video as each piece finds it: the pieces before it in place
    for call in calls:
        plan = call.plan
        assert isinstance(plan, RetakePlan)
        clip_stop = plan.clip_start + plan.source_frames_in_clip
        assert call.inputs.video is not None and call.inputs.video_audio is not None
        assert np.array_equal(call.inputs.video, so_far[plan.clip_start : clip_stop])
        if plan.window is not None:
            assert call.result.frames is not None
            so_far[plan.window.start : plan.window.stop] = call.result.frames
    out = play(rendered.output)
    assert len(out.codes) == SOURCE_FRAMES
    window = rendered.notes.get("video_window_frames")
    assert window == [24, 88]
    assert out.codes[:24] == list(range(24)) and out.codes[88:] == list(range(88, SOURCE_FRAMES))
    decoded = media.read_frames(rendered.output)
    made = so_far[24:88]
    assert [nearest(frame, made) for frame in decoded[24:88]] == list(range(64))
    assert out.audio is not None and abs(float(out.audio_end - out.video_end)) * 1000 <= 1.0
    done = [report.done for report in reports]
    assert done == sorted(done) and done[-1] >= 0.96


def test_a_long_retakes_sound_runs_on_across_its_seams(
    toned: TonedEngine, clip: Path, tmp_path: Path
) -> None:
    request = retake_request(clip, RetakeMode.REPLACE_AUDIO)
    info = media.probe(clip)
    assert info.video is not None
    plan = toned.plan(request, info.video)
    assert isinstance(plan, ChainedRetakePlan) and len(plan.pieces) == 4
    toned.calls.clear()
    made = run_passes(toned, request, plan, clip, info, tmp_path)
    assert isinstance(made, Retaken) and made.audio is not None and made.video is None
    track = made.audio.track
    samples, rate = track.samples[0], track.sample_rate
    assert plan.audio_window is not None
    assert len(samples) == round(plan.audio_window[1] * rate) - round(plan.audio_window[0] * rate)
    tone_step = 2 * np.pi * 440 / rate * 0.5
    assert np.abs(np.diff(samples)).max() <= tone_step * 1.05, "no click where the pieces meet"
    block = rate // 200
    assert min(np.abs(samples[i : i + block]).max() for i in range(0, len(samples) - block, block)) > 0.45
