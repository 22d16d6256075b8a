"""Every sampling knob reaches the model (changing it changes the video), and a knob the chosen
pipeline cannot honour is refused with the field named, never silently ignored."""

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from ltxserve.engine.check import check
from ltxserve.engine.engine import Engine
from ltxserve.engine.weights import WeightSet, discover
from ltxserve.request import (
    CameraMotion,
    Guidance,
    InvalidRequestError,
    LoraChoice,
    Pipeline,
    Sampling,
    Scheduler,
)
from tests.engine_support import FAST, frames_of, generate, text_request

BASE = text_request()


@pytest.fixture(scope="module")
def baseline(engine: Engine) -> np.ndarray:
    return frames_of(engine, BASE)


def changed(engine: Engine, baseline: np.ndarray, **changes: object) -> bool:
    """Whether BASE with `changes` makes a different video than `baseline`."""
    return not np.array_equal(baseline, frames_of(engine, replace(BASE, **changes)))  # type: ignore[arg-type]


THREE_STEPS = replace(FAST, steps=3)


@pytest.mark.parametrize(
    ("sampling", "reference"),
    [
        (THREE_STEPS, FAST),
        (replace(FAST, scheduler=Scheduler.LINEAR_QUADRATIC), FAST),
        (replace(FAST, scheduler=Scheduler.BETA), FAST),
        (replace(FAST, video=Guidance(cfg=5.0)), FAST),
        (replace(FAST, video=Guidance(stg=2.0)), FAST),
        (replace(FAST, video=Guidance(modality=1.0)), FAST),
        (replace(FAST, video=Guidance(stg_blocks=(0,))), FAST),
        (replace(FAST, audio=Guidance(cfg=2.0)), FAST),
        (replace(FAST, audio=Guidance(stg=0.0, modality=1.0)), FAST),
        # these act between steps, so they need more than two
        (replace(THREE_STEPS, video=Guidance(skip_step=1)), THREE_STEPS),
        (replace(THREE_STEPS, gradient_estimation_gamma=2.0), THREE_STEPS),
        (replace(THREE_STEPS, noise_injection=True), THREE_STEPS),
        (replace(THREE_STEPS, step_reuse=1), THREE_STEPS),
    ],
    ids=lambda s: "/".join(f"{k}={v}" for k, v in vars(s).items() if getattr(FAST, k) != v) or "base",
)
def test_each_sampling_knob_changes_the_video(
    engine: Engine, sampling: Sampling, reference: Sampling
) -> None:
    assert not np.array_equal(
        frames_of(engine, replace(BASE, sampling=sampling)),
        frames_of(engine, replace(BASE, sampling=reference)),
    )


def test_negative_prompt_and_prompt_change_the_video(engine: Engine, baseline: np.ndarray) -> None:
    assert changed(engine, baseline, negative_prompt="rain at night")
    assert changed(engine, baseline, prompt="a dog runs in the city")


def test_an_expanded_prompt_is_gemmas_repeatable_and_what_the_video_is_made_from(
    engine: Engine, baseline: np.ndarray
) -> None:
    expanding = replace(BASE, expand_prompt=True)
    first, again = generate(engine, expanding), generate(engine, expanding)
    assert first.expanded_prompt and first.expanded_prompt != BASE.prompt, "the tiny Gemma writes noise"
    assert again.expanded_prompt == first.expanded_prompt, "sampled from the request's seed"
    assert generate(engine, replace(expanding, seed=2)).expanded_prompt != first.expanded_prompt
    assert first.frames is not None and not np.array_equal(first.frames, baseline)
    assert generate(engine, BASE).expanded_prompt is None


def test_camera_lora_and_its_scale(engine: Engine, baseline: np.ndarray) -> None:
    assert changed(engine, baseline, camera=CameraMotion.DOLLY_IN)
    assert changed(engine, baseline, camera=CameraMotion.JIB_UP, camera_scale=0.5)
    assert not changed(engine, baseline, camera=CameraMotion.DOLLY_IN, camera_scale=0.0)


def test_user_lora_by_path_and_scale(engine: Engine, baseline: np.ndarray, tiny_weights: WeightSet) -> None:
    path = str(tiny_weights.camera_loras[CameraMotion.STATIC])
    with_lora = frames_of(engine, replace(BASE, loras=(LoraChoice(path, 1.0),)))
    assert not np.array_equal(baseline, with_lora)
    half = frames_of(engine, replace(BASE, loras=(LoraChoice(path, 0.5),)))
    assert not np.array_equal(with_lora, half)
    # the same LoRA as a camera LoRA at the same scale fuses the same weights
    assert np.array_equal(with_lora, frames_of(engine, replace(BASE, camera=CameraMotion.STATIC)))


def test_user_lora_by_name(tiny_weights: WeightSet, tmp_path: Path) -> None:
    weights = tmp_path / "weights"
    shutil.copytree(tiny_weights.root, weights)
    (weights / "loras").mkdir()
    shutil.copy(tiny_weights.camera_loras[CameraMotion.DOLLY_OUT], weights / "loras" / "my-style.safetensors")
    engine = Engine(discover(weights))
    named = frames_of(engine, replace(BASE, loras=(LoraChoice("my-style"),)))
    assert np.array_equal(named, frames_of(engine, replace(BASE, camera=CameraMotion.DOLLY_OUT)))


def test_distilled_lora_scales_change_the_two_stage_result(engine: Engine) -> None:
    two_stage = replace(BASE, sampling=Sampling(pipeline=Pipeline.TWO_STAGE, steps=2))
    default = frames_of(engine, two_stage)
    fal_like = replace(two_stage, sampling=replace(two_stage.sampling, distilled_lora_scales=(0.2, 0.5)))
    assert not np.array_equal(default, frames_of(engine, fal_like))


# --- refusals ----------------------------------------------------------------------------------


def refused(engine: Engine, field: str, match: str, **changes: object) -> None:
    """Refused by the engine, and alike by the torch-free check the API runs at submit time."""
    request = replace(BASE, **changes)  # type: ignore[arg-type]
    for checker in (engine.plan, lambda request: check(request, engine.weights)):
        with pytest.raises(InvalidRequestError, match=match) as raised:
            checker(request)
        assert raised.value.field == field


@pytest.mark.parametrize(
    ("sampling", "field"),
    [
        (Sampling(pipeline=Pipeline.DISTILLED, steps=20), "sampling.steps"),
        (Sampling(pipeline=Pipeline.DISTILLED, scheduler=Scheduler.BETA), "sampling.scheduler"),
        (Sampling(pipeline=Pipeline.DISTILLED, video=Guidance(cfg=3.0)), "sampling.video"),
        (
            Sampling(pipeline=Pipeline.DISTILLED, distilled_lora_scales=(0.2, 0.5)),
            "sampling.distilled_lora_scales",
        ),
        (
            Sampling(pipeline=Pipeline.DISTILLED, gradient_estimation_gamma=2.0),
            "sampling.gradient_estimation_gamma",
        ),
    ],
)
def test_distilled_pipeline_refuses_knobs_it_cannot_honour(
    engine: Engine, sampling: Sampling, field: str
) -> None:
    refused(engine, field, "fixed 8 \\+ 3 step schedule", sampling=sampling)


def test_one_stage_refuses_distilled_lora_scales(engine: Engine) -> None:
    refused(
        engine,
        "sampling.distilled_lora_scales",
        "no distilled-LoRA pass",
        sampling=replace(FAST, distilled_lora_scales=(0.2, 0.5)),
    )


def test_stg_block_must_exist(engine: Engine) -> None:
    refused(
        engine,
        "sampling.audio.stg_blocks",
        "block 7 does not exist; the model has blocks 0-1",
        sampling=replace(FAST, audio=Guidance(stg_blocks=(7,))),
    )


def test_too_many_steps(engine: Engine) -> None:
    refused(engine, "sampling.steps", "at most 200", sampling=replace(FAST, steps=500))


def test_unknown_lora_name(engine: Engine) -> None:
    refused(engine, "loras.0", "no LoRA named 'nope'", loras=(LoraChoice("nope"),))


def test_lora_scale_range(engine: Engine, tiny_weights: WeightSet) -> None:
    path = str(tiny_weights.camera_loras[CameraMotion.STATIC])
    refused(engine, "loras.1.scale", "between 0 and 4", loras=(LoraChoice(path), LoraChoice(path, 9.0)))


def test_lora_for_another_model_is_refused_before_any_work(engine: Engine, tmp_path: Path) -> None:
    foreign = tmp_path / "other-model.safetensors"
    save_file(
        {
            "diffusion_model.blocks.0.attn.qkv.lora_A.weight": torch.zeros(4, 64),
            "diffusion_model.blocks.0.attn.qkv.lora_B.weight": torch.zeros(64, 4),
        },
        str(foreign),
    )
    refused(engine, "loras.0", "does not fit this model", loras=(LoraChoice(str(foreign)),))


def test_missing_camera_lora(tiny_weights: WeightSet) -> None:
    engine = Engine(replace(tiny_weights, camera_loras={}))
    refused(engine, "camera", "no camera LoRA for jib_down", camera=CameraMotion.JIB_DOWN)


def test_pipeline_without_its_weights_names_what_is_missing(tiny_weights: WeightSet) -> None:
    engine = Engine(replace(tiny_weights, upscaler=None))
    refused(
        engine, "sampling.pipeline", "spatial upscaler x2", sampling=Sampling(pipeline=Pipeline.TWO_STAGE)
    )
    assert engine.plan(BASE) is not None  # one-stage needs no upscaler


def test_step_reuse_bounds(engine: Engine) -> None:
    refused(engine, "sampling.step_reuse", "at most 200", sampling=replace(FAST, step_reuse=201))
    with pytest.raises(InvalidRequestError, match="must be 0 or more") as raised:
        replace(BASE, sampling=replace(FAST, step_reuse=-1))
    assert raised.value.field == "sampling.step_reuse"


def test_the_distilled_pipeline_takes_noise_injection_and_step_reuse(engine: Engine) -> None:
    distilled = Sampling(pipeline=Pipeline.DISTILLED)
    plain = frames_of(engine, replace(BASE, sampling=distilled))
    for knob in ({"noise_injection": True}, {"step_reuse": 1}):
        changed = replace(BASE, sampling=replace(distilled, **knob))
        assert not np.array_equal(plain, frames_of(engine, changed))
