"""Which passes a request runs, with which weights, LoRAs, schedule and guidance: every sampling knob
checked against the pipeline and the weights. Plain data and file headers only (no torch), so the
API can refuse a request at submit time with the same rules the engine applies."""

import math
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from ltxserve.engine.weights import WeightsError, WeightSet
from ltxserve.request import GenerationRequest, Guidance, InvalidRequestError, Pipeline, Sampling, Scheduler

DEFAULT_STEPS = 30
"""LTX-2.3's default for the guided dev model."""
DEFAULT_VIDEO_GUIDANCE = Guidance(cfg=3.0, stg=1.0, rescale=0.7, modality=3.0, skip_step=0)
DEFAULT_AUDIO_GUIDANCE = Guidance(cfg=7.0, stg=1.0, rescale=0.7, modality=3.0, skip_step=0)
DEFAULT_NEGATIVE_PROMPT = (
    "blurry, out of focus, overexposed, underexposed, low contrast, washed out colors, excessive "
    "noise, grainy texture, poor lighting, flickering, motion blur, distorted proportions, unnatural "
    "skin tones, deformed facial features, asymmetrical face, missing facial features, extra limbs, "
    "disfigured hands, wrong hand count, artifacts around text, inconsistent perspective, camera "
    "shake, incorrect depth of field, background too sharp, background clutter, distracting "
    "reflections, harsh shadows, inconsistent lighting direction, color banding, cartoonish "
    "rendering, 3D CGI look, unrealistic materials, uncanny valley effect, incorrect ethnicity, "
    "wrong gender, exaggerated expressions, wrong gaze direction, mismatched lip sync, silent or "
    "muted audio, distorted voice, robotic voice, echo, background noise, off-sync audio, incorrect "
    "dialogue, added dialogue, repetitive speech, jittery movement, awkward pauses, incorrect "
    "timing, unnatural transitions, inconsistent framing, tilted camera, flat lighting, inconsistent "
    "tone, cinematic oversaturation, stylized filters, or AI artifacts."
)
"""LTX-2.3's default negative prompt (ltx-pipelines' constant; a test holds the two equal)."""
DEFAULT_DISTILLED_LORA_SCALES = (0.0, 1.0)
"""The official two-stage pipeline: no distilled LoRA in the guided pass, full strength refining."""
DISTILLED_SIGMAS = (1.0, 0.99375, 0.9875, 0.98125, 0.975, 0.909375, 0.725, 0.421875, 0.0)
REFINE_SIGMAS = (0.909375, 0.725, 0.421875, 0.0)
"""The distilled schedule's tail: the second (full-size) stage starts at 0.909375 from the upscaled latent."""
MAX_STEPS = 200
MAX_LORA_SCALE = 4.0
LORA_DOWN = ".lora_A.weight"
_STG_BLOCK = 28
"""LTX-2.3 perturbs block 28 of its 48 for STG; a smaller model uses its last block."""


@dataclass(frozen=True)
class LoraSpec:
    path: Path
    strength: float


@dataclass(frozen=True)
class GuidanceValues:
    cfg: float
    stg: float
    rescale: float
    modality: float
    stg_blocks: tuple[int, ...]
    skip_step: int


@dataclass(frozen=True)
class Stepping:
    """How a pass moves from one sigma to the next; the defaults are ltx-pipelines' Euler loop."""

    gradient_estimation: float = 0.0
    """γ > 0 extrapolates the velocity from the previous step."""
    noise_injection: bool = False
    reuse: int = 0
    """The model runs on one step in 1 + reuse; the steps between reuse its last prediction."""


@dataclass(frozen=True)
class StagePlan:
    """One denoising pass, as data."""

    name: str
    checkpoint: Path
    loras: tuple[LoraSpec, ...]
    sigmas: tuple[float, ...] | None
    """A fixed schedule, or None to compute `steps` of `scheduler`."""
    steps: int
    scheduler: Scheduler
    guidance: tuple[GuidanceValues, GuidanceValues] | None
    stepping: Stepping = field(default_factory=Stepping)


def stage_plans(request: GenerationRequest, weights: WeightSet) -> tuple[StagePlan, ...]:
    """The passes for `request`, or InvalidRequestError naming the knob that cannot be honoured."""
    sampling = request.sampling
    try:
        checkpoint = weights.checkpoint(sampling.pipeline)
    except WeightsError as error:
        raise InvalidRequestError("sampling.pipeline", str(error).split("; expected")[0]) from None
    loras = _user_loras(request, weights, checkpoint)
    if (sampling.step_reuse or 0) > MAX_STEPS:
        raise InvalidRequestError("sampling.step_reuse", f"at most {MAX_STEPS}, got {sampling.step_reuse}")
    stepping = Stepping(
        sampling.gradient_estimation_gamma or 0.0, bool(sampling.noise_injection), sampling.step_reuse or 0
    )
    if sampling.pipeline is Pipeline.DISTILLED:
        _refuse_knobs(sampling, "the distilled pipeline runs a fixed 8 + 3 step schedule without guidance")
        return (
            StagePlan("denoising", checkpoint, loras, DISTILLED_SIGMAS, 8, Scheduler.LTX2, None, stepping),
            StagePlan("refining", checkpoint, loras, REFINE_SIGMAS, 3, Scheduler.LTX2, None),
        )
    steps = sampling.steps or DEFAULT_STEPS
    if steps > MAX_STEPS:
        raise InvalidRequestError("sampling.steps", f"at most {MAX_STEPS}, got {steps}")
    guidance = (
        _guidance(sampling.video, DEFAULT_VIDEO_GUIDANCE, checkpoint, "video"),
        _guidance(sampling.audio, DEFAULT_AUDIO_GUIDANCE, checkpoint, "audio"),
    )
    scheduler = sampling.scheduler or Scheduler.LTX2
    if sampling.pipeline is Pipeline.ONE_STAGE:
        if sampling.distilled_lora_scales is not None:
            raise InvalidRequestError(
                "sampling.distilled_lora_scales",
                "the one-stage pipeline has no distilled-LoRA pass; use two_stage",
            )
        return (StagePlan("denoising", checkpoint, loras, None, steps, scheduler, guidance, stepping),)
    assert weights.distilled_lora is not None
    first, second = sampling.distilled_lora_scales or DEFAULT_DISTILLED_LORA_SCALES
    distilled = weights.distilled_lora
    return (
        StagePlan(
            "denoising",
            checkpoint,
            (*loras, LoraSpec(distilled, first)),
            None,
            steps,
            scheduler,
            guidance,
            stepping,
        ),
        StagePlan(
            "refining", checkpoint, (*loras, LoraSpec(distilled, second)), REFINE_SIGMAS, 3, scheduler, None
        ),
    )


def _guidance(given: Guidance, default: Guidance, checkpoint: Path, modality: str) -> GuidanceValues:
    blocks = transformer_blocks(checkpoint)
    stg_blocks = given.stg_blocks if given.stg_blocks is not None else (min(_STG_BLOCK, blocks - 1),)
    for block in stg_blocks:
        if not 0 <= block < blocks:
            raise InvalidRequestError(
                f"sampling.{modality}.stg_blocks",
                f"block {block} does not exist; the model has blocks 0-{blocks - 1}",
            )

    def pick(name: str) -> float:
        value = getattr(given, name)
        return float(value if value is not None else getattr(default, name))

    return GuidanceValues(
        cfg=pick("cfg"),
        stg=pick("stg"),
        rescale=pick("rescale"),
        modality=pick("modality"),
        stg_blocks=tuple(stg_blocks),
        skip_step=int(pick("skip_step")),
    )


def _user_loras(request: GenerationRequest, weights: WeightSet, checkpoint: Path) -> tuple[LoraSpec, ...]:
    """The camera LoRA and the user's LoRAs, each found and checked to fit the checkpoint."""
    specs = []
    if request.camera is not None:
        try:
            path = weights.camera_lora(request.camera)
            check_fits(path, transformer_keys(checkpoint))
        except WeightsError as error:
            raise InvalidRequestError("camera", str(error)) from None
        specs.append(LoraSpec(path, request.camera_scale))
    for index, lora in enumerate(request.loras):
        if not 0 <= lora.scale <= MAX_LORA_SCALE or not math.isfinite(lora.scale):
            raise InvalidRequestError(f"loras.{index}.scale", f"must be between 0 and {MAX_LORA_SCALE}")
        try:
            path = weights.lora(lora.name)
            check_fits(path, transformer_keys(checkpoint))
        except WeightsError as error:
            raise InvalidRequestError(f"loras.{index}", str(error)) from None
        specs.append(LoraSpec(path, lora.scale))
    return tuple(specs)


def _refuse_knobs(sampling: Sampling, why: str) -> None:
    given = {
        "sampling.steps": sampling.steps,
        "sampling.scheduler": sampling.scheduler,
        "sampling.distilled_lora_scales": sampling.distilled_lora_scales,
        "sampling.gradient_estimation_gamma": sampling.gradient_estimation_gamma,
        "sampling.video": None if sampling.video.is_default else sampling.video,
        "sampling.audio": None if sampling.audio.is_default else sampling.audio,
    }
    for name, value in given.items():
        if value is not None:
            raise InvalidRequestError(name, f"cannot be set: {why}")


# --- reading safetensors headers (no tensors, no torch) ------------------------------------------


def _header(path: Path) -> tuple[dict[str, str], list[str]]:
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as handle:
        return handle.metadata() or {}, list(handle.keys())


_MODEL_PREFIX = "model.diffusion_model."
_LORA_PREFIX = "diffusion_model."


@cache
def transformer_keys(checkpoint: Path) -> frozenset[str]:
    """The transformer's weight names (as ltx-core names them) in a checkpoint."""
    _, keys = _header(checkpoint)
    return frozenset(key.removeprefix(_MODEL_PREFIX) for key in keys if key.startswith(_MODEL_PREFIX))


@cache
def transformer_blocks(checkpoint: Path) -> int:
    import json

    metadata, _ = _header(checkpoint)
    return int(json.loads(metadata["config"])["transformer"]["num_layers"])


def lora_layers(path: Path) -> set[str]:
    """The weights (model key names) a LoRA file changes, read from its header alone."""
    _, keys = _header(path)
    # ltx-core's LTXV_LORA_COMFY_RENAMING_MAP: drop "diffusion_model." wherever it appears
    renamed = (key.replace(_LORA_PREFIX, "") for key in keys)
    return {key.removesuffix(LORA_DOWN) + ".weight" for key in renamed if key.endswith(LORA_DOWN)}


def check_fits(path: Path, model_keys: frozenset[str] | set[str]) -> None:
    """Raise WeightsError unless every layer the LoRA changes exists in the model."""
    layers = lora_layers(path)
    if not layers:
        raise WeightsError(f"{path.name} holds no LoRA layers (lora_A / lora_B weights)")
    unknown = sorted(layers - model_keys)
    if unknown:
        raise WeightsError(
            f"{path.name} does not fit this model: {len(unknown)} of its {len(layers)} layers are "
            f"unknown (e.g. {unknown[0]}); it was probably trained for another LTX version"
        )
