"""One request from local input files to a finished output file, following the flow one way:
probe (sandboxed) → plan → read the inputs the plan needs → engine → assemble and encode.

The CLI calls this directly; the service's worker calls it after fetching inputs and before storing
the result.
"""

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from ltxserve import media
from ltxserve.chain import Extension, Retaken, run_passes
from ltxserve.engine.engine import Engine, EngineInputs, EngineResult
from ltxserve.engine.generation import MODEL_AUDIO_RATE
from ltxserve.engine.planning import (
    Chained,
    ExtendPlan,
    GenerationPlan,
    OnePass,
    Plan,
    decided_by_inputs,
    decisions,
)
from ltxserve.engine.progress import WRITING, CancelToken, Progress, ProgressCallback
from ltxserve.media import MediaInfo, MediaLimits
from ltxserve.probing import probe_inputs
from ltxserve.request import GenerationRequest, MediaRef, Task

DEMO_LABEL = "ltxserve demo: tiny random weights, the picture and sound are noise"


@dataclass(frozen=True)
class Rendered:
    """What was made, for the caller's report: the output and what the plan decided."""

    output: Path
    info: MediaInfo
    seed: int
    demo: bool
    plan: Plan
    expanded_prompt: str | None = None
    written: media.Written | None = None
    """How an output holding the source was written: its packets copied, or why not."""

    @property
    def notes(self) -> dict[str, object]:
        """Decisions the caller did not spell out: snapping, context, sizes, what was copied."""
        notes: dict[str, object] = {"seed": self.seed, **decisions(self.plan)}
        if self.expanded_prompt is not None:
            notes["expanded_prompt"] = self.expanded_prompt
        if self.written is not None:
            notes["output"] = self.written.notes
        return notes


def render(
    engine: Engine,
    request: GenerationRequest,
    output: Path,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    limits: MediaLimits | None = None,
) -> Rendered:
    def step(stage: str, done: float = 0.0) -> None:
        if progress is not None:
            progress(Progress(stage, 0, 1, done))

    step("probing inputs")
    infos = probe_inputs(request, limits or MediaLimits())
    with tempfile.TemporaryDirectory(prefix="ltxserve-render-") as scratch:
        request, infos = _conformed(request, infos, Path(scratch), step)
        request = decided_by_inputs(request, infos)
        source = request.source
        source_info = infos[_source_field(request)] if source is not None else None
        plan = engine.plan(request, source_info.video if source_info else None)
        made: EngineResult | Extension | Retaken
        if isinstance(plan, Chained):
            assert source is not None and source_info is not None
            made = run_passes(
                engine,
                request,
                plan,
                source.path,
                source_info,
                Path(scratch),
                progress=progress,
                cancel=cancel,
            )
            step("writing output", WRITING)
            written = _assemble_passes(request, made, source_info, output)
        else:
            step("reading inputs")
            inputs = read_inputs(request, plan, infos)
            made = engine.run(request, plan, inputs, progress=progress, cancel=cancel)
            step("writing output", WRITING)
            written = _assemble(request, plan, made, infos, output)
    return Rendered(output, media.probe(output), made.seed, made.demo, plan, made.expanded_prompt, written)


def _conformed(
    request: GenerationRequest, infos: dict[str, MediaInfo], scratch: Path, step: Callable[[str], None]
) -> tuple[GenerationRequest, dict[str, MediaInfo]]:
    """An extension asked at another rate or size extends the source re-timed and re-sized to it."""
    extend = request.extend
    if extend is None or (extend.fps is None and extend.size is None):
        return request, infos
    step("conforming the source")
    conformed = scratch / "source.mp4"
    media.conform(extend.video.path, infos["extend.video"], conformed, fps=extend.fps, size=extend.size)
    ref = MediaRef.file(conformed)
    return request.with_media({"extend.video": ref}), {**infos, "extend.video": media.probe(conformed)}


def _source_field(request: GenerationRequest) -> str:
    return "extend.video" if request.task is Task.EXTEND else "retake.video"


def read_inputs(request: GenerationRequest, plan: OnePass, infos: dict[str, MediaInfo]) -> EngineInputs:
    def image(ref: MediaRef | None) -> "media.Frames | None":
        return media.read_image(ref.path) if ref is not None else None

    if isinstance(plan, GenerationPlan):
        audio = None
        if request.audio is not None:
            audio = media.read_audio(
                request.audio.path, sample_rate=MODEL_AUDIO_RATE, duration=plan.clip.duration
            )
        return EngineInputs(
            first_image=image(request.first_frame.image if request.first_frame else None),
            last_image=image(request.last_frame.image if request.last_frame else None),
            audio=audio,
        )
    source = request.source
    assert source is not None
    info = infos[_source_field(request)]
    assert info.video is not None
    if isinstance(plan, ExtendPlan):
        start, stop = plan.context_start, plan.context_start + plan.context_frames
    else:
        start, stop = plan.clip_start, plan.clip_start + plan.source_frames_in_clip
    rate = MODEL_AUDIO_RATE if info.has_audio else None
    context = media.read_clip(source.path, info.video.fps, start=start, stop=stop, sample_rate=rate)
    end_image = request.extend.end_image if request.extend else None
    return EngineInputs(
        video=context.frames,
        video_audio=context.audio.samples if context.audio is not None else None,
        end_image=image(end_image.image if end_image else None),
    )


def _assemble(
    request: GenerationRequest, plan: OnePass, result: EngineResult, infos: dict[str, MediaInfo], output: Path
) -> media.Written | None:
    options = _options(request, result.demo)
    audio = media.AudioTrack(result.audio, result.sample_rate) if result.audio is not None else None
    if isinstance(plan, GenerationPlan):
        assert result.frames is not None
        fps = plan.clip.fps
        if request.audio is not None:  # audio-to-video keeps the given audio, as it was
            audio = _input_audio(request.audio.path, infos["audio"], plan.output_frames, fps)
        media.encode_clip(output, media.Clip(result.frames, fps, audio), options)
        return None
    source = request.source
    assert source is not None
    info = infos[_source_field(request)]
    if isinstance(plan, ExtendPlan):
        assert result.frames is not None
        assert request.extend is not None
        if not request.extend.keep_source:
            media.encode_clip(output, media.Clip(result.frames, plan.clip.fps, audio), options)
            return None
        return media.extend(
            source.path,
            info,
            media.Clip(result.frames, plan.clip.fps, audio),
            output,
            at=plan.edge,
            options=options,
        )
    video_patch = (
        media.VideoPatch(plan.window, result.frames) if plan.window and result.frames is not None else None
    )
    audio_patch = None
    if plan.audio_window is not None and audio is not None:
        audio_patch = media.AudioPatch(plan.audio_window[0], audio)
    return media.replace_window(
        source.path, info, output, video=video_patch, audio=audio_patch, options=options
    )


def _assemble_passes(
    request: GenerationRequest, made: Extension | Retaken, info: MediaInfo, output: Path
) -> media.Written | None:
    assert request.source is not None
    options = _options(request, made.demo)
    if isinstance(made, Retaken):
        return media.replace_window(
            request.source.path, info, output, video=made.video, audio=made.audio, options=options
        )
    assert request.extend is not None
    new = made.clip
    if request.extend.keep_source:
        return media.extend(request.source.path, info, new, output, at=request.extend.edge, options=options)
    with media.VideoWriter(
        output, width=new.width, height=new.height, fps=new.fps, audio=new.audio, options=options
    ) as writer:
        writer.write_all(new.frames)
    return None


def _options(request: GenerationRequest, demo: bool) -> media.EncodeOptions:
    """How the output is encoded; a demo's says so in its metadata."""
    return replace(request.output, comment=DEMO_LABEL) if demo else request.output


def _input_audio(path: Path, info: MediaInfo, frames: int, fps: Fraction) -> media.AudioTrack:
    assert info.audio is not None
    rate, channels = info.audio.sample_rate, min(info.audio.channels, 2)
    duration = Fraction(media.samples_for(frames, fps, rate), rate)
    return media.AudioTrack(
        media.read_audio(path, sample_rate=rate, channels=channels, duration=duration), rate
    )
