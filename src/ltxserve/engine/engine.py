"""The engine: plan a request against the loaded weights, then run it on decoded inputs.

`plan` is cheap and touches no model: it checks every knob against the pipeline and the weights and
fixes every size and window. `run` takes decoded arrays (frames, audio at 16 kHz, images) and returns
decoded arrays; reading and writing files is the media layer's job, on either side.
"""

import random
import threading
from dataclasses import dataclass, replace

import numpy as np
import torch
from ltx_core.components.guiders import MultiModalGuiderParams

from ltxserve.engine.conditioning import compress_like_video, crop_to, pad_to
from ltxserve.engine.generation import (
    MODEL_AUDIO_RATE,
    Conditioning,
    Decoded,
    ImagePin,
    Stage,
    generate_clip,
    load_models,
)
from ltxserve.engine.knobs import DEFAULT_NEGATIVE_PROMPT, StagePlan, stage_plans
from ltxserve.engine.models import ResidentModels
from ltxserve.engine.options import EngineOptions
from ltxserve.engine.planning import (
    Chained,
    ClipPlan,
    ExtendPlan,
    GenerationPlan,
    OnePass,
    Plan,
    plan_request,
)
from ltxserve.engine.progress import (
    DECODING,
    DENOISING,
    CancelledError,
    CancelToken,
    Progress,
    ProgressCallback,
)
from ltxserve.engine.sampling import schedule
from ltxserve.engine.weights import WeightSet
from ltxserve.media import VideoInfo, sample_at, samples_for
from ltxserve.media.splice import CROSSFADE, Edge
from ltxserve.request import GenerationRequest, Task

SEED_RANGE = 2**31


@dataclass(frozen=True)
class EngineInputs:
    """Decoded inputs, read by the media layer as the plan says."""

    first_image: np.ndarray | None = None
    last_image: np.ndarray | None = None
    end_image: np.ndarray | None = None
    audio: np.ndarray | None = None
    """Audio-to-video: float32 (2, samples) at 16 kHz from the start of the audio."""
    video: np.ndarray | None = None
    """Extend: the context frames; retake: the clip's source frames. uint8 at the source's display size."""
    video_audio: np.ndarray | None = None
    """float32 (2, samples) at 16 kHz under `video`; None when the source is silent."""


@dataclass(frozen=True)
class EngineResult:
    frames: np.ndarray | None
    """uint8 (N, H, W, 3): the whole video, the extension, or the retake window (None: video kept)."""
    audio: np.ndarray | None
    """float32 (2, samples) at `sample_rate` under `frames` (retake: under the audio window)."""
    sample_rate: int
    seed: int
    demo: bool
    expanded_prompt: str | None = None
    """The prompt Gemma wrote, when the request asked for its prompt to be expanded."""
    seam_audio: np.ndarray | None = None
    """The model's own sound for the `CROSSFADE` of context next to what it made (an extend's new
    part: before it at the end, after it at the start; a retake's audio window: before it), which
    the sound it continues fades into where passes meet."""


class Engine:
    """Runs one request at a time on models that stay loaded for the life of the process."""

    def __init__(self, weights: WeightSet, options: EngineOptions | None = None) -> None:
        self.weights = weights
        self.options = options or EngineOptions()
        self.models = ResidentModels(weights, self.options)
        self._lock = threading.Lock()

    @property
    def demo(self) -> bool:
        return self.weights.demo

    # --- planning ------------------------------------------------------------------------------

    def plan(self, request: GenerationRequest, source: VideoInfo | None = None) -> Plan:
        """Every size and window, with every knob checked. Raises InvalidRequestError naming the field."""
        self._stages(request)  # the knobs are checked before the shapes
        return plan_request(request, source, self.options.chaining)

    def _stages(self, request: GenerationRequest) -> list[Stage]:
        return [_stage(plan) for plan in stage_plans(request, self.weights)]

    # --- running -------------------------------------------------------------------------------

    def run(
        self,
        request: GenerationRequest,
        plan: Plan,
        inputs: EngineInputs,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> EngineResult:
        """Generate what one model pass makes (an edit longer than one window runs its passes
        here one by one: `ltxserve.chain`). Raises CancelledError between steps when `cancel` is set;
        any failure leaves the engine ready for the next request."""
        if isinstance(plan, Chained):
            raise ValueError("a chained plan runs one pass at a time (ltxserve.chain)")

        stages = self._stages(request)
        meter = _Meter(stages)

        def report(stage: str, step: int, total: int) -> None:
            if cancel is not None and cancel.cancelled:
                raise CancelledError("cancelled")
            if progress is not None:
                progress(Progress(stage, step, total, meter.done(stage, step)))

        seed = request.seed if request.seed is not None else random.randrange(SEED_RANGE)
        conditioning = self._conditioning(request, plan, inputs)
        with self._lock, torch.inference_mode():
            report("loading models", 0, 1)
            load_models(self.models, conditioning, stages)
            used = request.prompt
            if request.expand_prompt:
                report("expanding prompt", 0, 1)
                used = self.models.expand_prompt(request.prompt, seed)
            report("encoding prompt", 0, 1)
            checkpoint = stages[0].checkpoint
            prompt = self.models.encode_prompt(used, checkpoint)
            negative = None
            if any(stage.guidance is not None for stage in stages):
                text = request.negative_prompt
                negative_text = text if text is not None else DEFAULT_NEGATIVE_PROMPT
                negative = self.models.encode_prompt(negative_text, checkpoint)
            decoded = generate_clip(
                self.models,
                plan.clip,
                conditioning,
                stages,
                prompt,
                negative,
                seed,
                report,
                decode_sound=_keeps_generated_sound(request, plan, inputs),
            )
            result = self._result(request, plan, inputs, decoded, seed)
            return replace(result, expanded_prompt=used) if request.expand_prompt else result

    def _conditioning(self, request: GenerationRequest, plan: OnePass, inputs: EngineInputs) -> Conditioning:
        if isinstance(plan, GenerationPlan):
            return _generation_conditioning(request, plan, inputs)
        if isinstance(plan, ExtendPlan):
            return _extend_conditioning(request, plan, inputs)
        frames = _need_array(inputs.video, "video")
        missing = plan.clip.frames - len(frames)  # the clip is 8k+1 frames: the last one repeats
        video = np.concatenate([frames, np.repeat(frames[-1:], missing, axis=0)]) if missing > 0 else frames
        return Conditioning(
            pad_to(video, plan.clip.size), _fit(_source_audio(inputs), _audio_samples(plan.clip))
        )

    def _result(
        self, request: GenerationRequest, plan: OnePass, inputs: EngineInputs, decoded: Decoded, seed: int
    ) -> EngineResult:
        fps, rate = plan.clip.fps, decoded.sample_rate

        def frames_between(start: int, stop: int, size: tuple[int, int]) -> np.ndarray:
            return crop_to(decoded.frames[start:stop], *size)

        def audio_between(sound: np.ndarray, start: int, count: int) -> np.ndarray:
            segment = sound[:, start : start + count]
            return np.pad(segment, ((0, 0), (0, count - segment.shape[1])))

        if isinstance(plan, GenerationPlan):
            size = (plan.output_size.width, plan.output_size.height)
            frames = frames_between(0, plan.output_frames, size)
            audio = None
            if decoded.audio is not None:
                audio = audio_between(decoded.audio, 0, samples_for(plan.output_frames, fps, rate))
            return EngineResult(frames, audio, rate, seed, self.demo)
        source = _need_array(inputs.video, "video")
        size = (source.shape[2], source.shape[1])
        if isinstance(plan, ExtendPlan):
            start, stop = plan.kept
            audio = seam = None
            if decoded.audio is not None:
                first = sample_at(start, fps, rate)
                audio = audio_between(decoded.audio, first, samples_for(stop - start, fps, rate))
                fade = round(CROSSFADE * rate)
                beside = max(0, first - fade) if plan.edge is Edge.END else first + audio.shape[1]
                seam = audio_between(decoded.audio, beside, fade)
            frames = frames_between(start, stop, size)
            return EngineResult(frames, audio, rate, seed, self.demo, seam_audio=seam)
        window_frames = None
        if plan.window is not None:
            window_frames = frames_between(
                plan.window.start - plan.clip_start, plan.window.stop - plan.clip_start, size
            )
        audio = seam = None
        if plan.audio_window is not None and decoded.audio is not None:
            offset = plan.clip_start / fps
            first = round((plan.audio_window[0] - offset) * rate)
            audio = audio_between(decoded.audio, first, round((plan.audio_window[1] - offset) * rate) - first)
            fade = round(CROSSFADE * rate)
            seam = audio_between(decoded.audio, max(0, first - fade), fade)
        return EngineResult(window_frames, audio, rate, seed, self.demo, seam_audio=seam)


class _Meter:
    """`Progress.done` for the engine's reports: the denoising steps of all stages spread evenly
    over `DENOISING`, decoding at `DECODING`; never going back."""

    def __init__(self, stages: list[Stage]) -> None:
        self._first_step: dict[str, int] = {}
        planned = 0
        for stage in stages:
            self._first_step[stage.name] = planned
            planned += len(stage.sigmas) - 1
        self._planned = max(planned, 1)
        self._done = 0.0

    def done(self, stage: str, step: int) -> float:
        start, stop = DENOISING
        if stage in self._first_step:
            self._done = start + (stop - start) * (self._first_step[stage] + step) / self._planned
        elif stage.startswith("decoding"):
            self._done = max(self._done, DECODING)
        return self._done


def _keeps_generated_sound(request: GenerationRequest, plan: OnePass, inputs: EngineInputs) -> bool:
    """Whether the result carries the sound the model made: not for audio-to-video (the user's
    track is the sound), a silent source's extend, a video-only retake, or `generate_audio` off."""
    if isinstance(plan, GenerationPlan):
        return request.generate_audio and request.task is not Task.AUDIO_TO_VIDEO
    if isinstance(plan, ExtendPlan):
        return request.generate_audio and inputs.video_audio is not None
    return plan.audio_window is not None


def _generation_conditioning(
    request: GenerationRequest, plan: GenerationPlan, inputs: EngineInputs
) -> Conditioning:
    images = []
    if inputs.first_image is not None and request.first_frame is not None:
        images.append(ImagePin(compress_like_video(inputs.first_image), 0, request.first_frame.strength))
    if inputs.last_image is not None and request.last_frame is not None:
        last = compress_like_video(inputs.last_image)
        images.append(ImagePin(last, plan.last_frame_index, request.last_frame.strength))
    audio = None
    if request.task is Task.AUDIO_TO_VIDEO:
        audio = _fit(_need_array(inputs.audio, "audio"), _audio_samples(plan.clip))
    return Conditioning(video=None, audio=audio, images=tuple(images))


def _extend_conditioning(request: GenerationRequest, plan: ExtendPlan, inputs: EngineInputs) -> Conditioning:
    """The clip is the context plus, where the new part goes, copies of the nearest context frame
    (and silence): they only fill the shape, the mask regenerates them."""
    clip = plan.clip
    frames = _need_array(inputs.video, "video")
    new = plan.new_region[1] - plan.new_region[0]
    end = plan.edge is Edge.END
    filler = np.repeat(frames[-1:] if end else frames[:1], new, axis=0)
    video = np.concatenate([frames, filler] if end else [filler, frames])
    silence = np.zeros((2, round(new / clip.fps * MODEL_AUDIO_RATE)), np.float32)
    source_audio = _source_audio(inputs)
    audio = np.concatenate([source_audio, silence] if end else [silence, source_audio], axis=1)
    pins: tuple[ImagePin, ...] = ()
    end_image = request.extend.end_image if request.extend is not None else None
    if end_image is not None and inputs.end_image is not None:
        pins = (ImagePin(compress_like_video(inputs.end_image), plan.outer_frame, end_image.strength),)
    return Conditioning(pad_to(video, clip.size), _fit(audio, _audio_samples(clip)), pins)


def _source_audio(inputs: EngineInputs) -> np.ndarray:
    """The source's audio under the given frames; a silent source is held as silence."""
    return inputs.video_audio if inputs.video_audio is not None else np.zeros((2, 0), np.float32)


def _audio_samples(clip: ClipPlan) -> int:
    return round(clip.duration * MODEL_AUDIO_RATE)


def _need_array(array: np.ndarray | None, name: str) -> np.ndarray:
    if array is None:
        raise ValueError(f"the plan needs the decoded {name} input")
    return array


def _fit(samples: np.ndarray, count: int) -> np.ndarray:
    samples = samples[:, :count]
    return np.pad(samples, ((0, 0), (0, count - samples.shape[1]))).astype(np.float32, copy=False)


def _stage(plan: StagePlan) -> Stage:
    """The torch side of a planned pass: its sigmas and ltx-core guider parameters."""
    sigmas = plan.sigmas if plan.sigmas is not None else schedule(plan.scheduler, plan.steps)
    guidance = None
    if plan.guidance is not None:
        guidance = tuple(
            MultiModalGuiderParams(
                cfg_scale=values.cfg,
                stg_scale=values.stg,
                stg_blocks=list(values.stg_blocks),
                rescale_scale=values.rescale,
                modality_scale=values.modality,
                skip_step=values.skip_step,
            )
            for values in plan.guidance
        )
    return Stage(plan.name, plan.checkpoint, plan.loras, sigmas, guidance, plan.stepping)
