"""The engine as a long-lived worker: models built once, LoRAs swapped exactly, progress reported,
cancellation within one step, failures leave it healthy; and its memory modes (FP8, offload, tiles)."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from ltx_core.loader import SingleGPUModelBuilder
from ltx_core.model.transformer import LTXV_MODEL_COMFY_RENAMING_MAP, LTXModelConfigurator

from ltxserve.engine.engine import Engine, EngineInputs, EngineResult
from ltxserve.engine.options import ComputeDtype, EngineOptions
from ltxserve.engine.progress import DECODING, DENOISING, CancelledError, CancelToken, Progress
from ltxserve.engine.weights import WeightSet
from ltxserve.request import (
    CameraMotion,
    GenerationRequest,
    ImageCondition,
    MediaRef,
    Pipeline,
    Sampling,
    Task,
)
from tests.engine_support import FAST, frames_of, generate, text_request

REFERENCE = text_request(seed=11, sampling=replace(FAST, steps=4))


@pytest.fixture(scope="module")
def reference(engine: Engine) -> np.ndarray:
    return frames_of(engine, REFERENCE)


def test_models_are_built_once_and_stay(engine: Engine, tiny_weights: WeightSet) -> None:
    assert tiny_weights.dev is not None
    frames_of(engine, REFERENCE)
    built = engine.models.built
    transformer = engine.models.transformer(tiny_weights.dev, ())
    for request in (REFERENCE, text_request(seed=3, camera=CameraMotion.DOLLY_LEFT), REFERENCE):
        frames_of(engine, request)
    assert engine.models.built == built
    assert engine.models.transformer(tiny_weights.dev, ()) is transformer


def test_lora_swaps_restore_the_base_weights_bit_for_bit(engine: Engine, tiny_weights: WeightSet) -> None:
    assert tiny_weights.dev is not None
    for camera in (CameraMotion.DOLLY_IN, CameraMotion.JIB_UP, None):
        frames_of(engine, text_request(camera=camera))
    fresh = SingleGPUModelBuilder(
        model_path=str(tiny_weights.dev),
        model_class_configurator=LTXModelConfigurator,
        model_sd_ops=LTXV_MODEL_COMFY_RENAMING_MAP,
    ).build(device=torch.device("cpu"), dtype=engine.models.dtype)
    resident = engine.models.transformer(tiny_weights.dev, ()).velocity_model.state_dict()
    for key, value in fresh.state_dict().items():
        assert torch.equal(resident[key], value), key


def test_fused_lora_weights_equal_a_build_with_the_lora(bf16_engine: Engine, tiny_weights: WeightSet) -> None:
    """In bfloat16, swapping in place gives the tensors ltx-core's fuse-at-build would."""
    from ltx_core.loader import LTXV_LORA_COMFY_RENAMING_MAP, LoraPathStrengthAndSDOps

    from ltxserve.engine.knobs import LoraSpec

    assert tiny_weights.dev is not None
    lora = tiny_weights.camera_lora(CameraMotion.DOLLY_IN)
    models = bf16_engine.models
    fused = models.transformer(tiny_weights.dev, (LoraSpec(lora, 0.7),)).velocity_model.state_dict()
    built = SingleGPUModelBuilder(
        model_path=str(tiny_weights.dev),
        model_class_configurator=LTXModelConfigurator,
        model_sd_ops=LTXV_MODEL_COMFY_RENAMING_MAP,
        loras=(LoraPathStrengthAndSDOps(str(lora), 0.7, LTXV_LORA_COMFY_RENAMING_MAP),),
    ).build(device=torch.device("cpu"), dtype=torch.bfloat16)
    for key, value in built.state_dict().items():
        assert torch.equal(fused[key], value), key
    models.transformer(tiny_weights.dev, ())


def test_float32_loras_fuse_as_base_plus_scaled_products(engine: Engine, tiny_weights: WeightSet) -> None:
    """ltx-core fuses only into bfloat16 and float8 weights; in float32 each touched weight is the base
    plus Σ strength · B·A, and every other weight is left as built."""
    from safetensors.torch import load_file

    from ltxserve.engine.knobs import LoraSpec

    assert tiny_weights.dev is not None and engine.models.dtype == torch.float32
    base = {
        k: v.clone()
        for k, v in engine.models.transformer(tiny_weights.dev, ()).velocity_model.state_dict().items()
    }
    first, second = (
        tiny_weights.camera_lora(CameraMotion.DOLLY_IN),
        tiny_weights.camera_lora(CameraMotion.JIB_UP),
    )
    specs = (LoraSpec(first, 0.7), LoraSpec(second, 1.5))
    fused = engine.models.transformer(tiny_weights.dev, specs).velocity_model.state_dict()
    expected = {key: value.double() for key, value in base.items()}
    for spec in specs:
        for key, down in load_file(str(spec.path)).items():
            if key.endswith(".lora_A.weight"):
                name = key.replace("diffusion_model.", "").removesuffix(".lora_A.weight") + ".weight"
                up = load_file(str(spec.path))[key.replace("lora_A", "lora_B")]
                expected[name] += spec.strength * (up.double() @ down.double())
    changed = [key for key in base if not torch.equal(fused[key], base[key])]
    assert changed and all(key.endswith(".weight") for key in changed)
    for key, value in fused.items():
        assert value.dtype == torch.float32
        torch.testing.assert_close(value.double(), expected[key], rtol=1e-6, atol=1e-6)
    restored = engine.models.transformer(tiny_weights.dev, ()).velocity_model.state_dict()
    assert all(torch.equal(restored[key], value) for key, value in base.items())


def test_progress_reports_every_step_of_every_stage(engine: Engine) -> None:
    events: list[Progress] = []
    request = text_request(width=128, height=128, sampling=Sampling(pipeline=Pipeline.TWO_STAGE, steps=3))
    engine.run(request, engine.plan(request), EngineInputs(), progress=events.append)
    denoising = [(e.step, e.total) for e in events if e.stage == "denoising"]
    refining = [(e.step, e.total) for e in events if e.stage == "refining"]
    assert denoising == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert refining == [(0, 3), (1, 3), (2, 3), (3, 3)]
    stages = list(dict.fromkeys(e.stage for e in events))
    assert stages == [
        "loading models",
        "encoding prompt",
        "applying LoRAs for denoising",
        "denoising",
        "upsampling",
        "applying LoRAs for refining",
        "refining",
        "decoding video",
        "decoding audio",
    ]
    done = [event.done for event in events]
    assert done == sorted(done), "the whole request's progress never goes back"
    assert next(e.done for e in events if e.stage == "denoising") == DENOISING[0]
    assert [e.done for e in events if e.stage == "refining"][-1] == pytest.approx(DENOISING[1])
    halfway = next(e for e in events if e.stage == "refining" and e.step == 0)
    assert halfway.done == pytest.approx(sum(DENOISING) / 2), "3 of 6 steps: the middle of the scale"
    assert next(e.done for e in events if e.stage == "decoding video") == DECODING


def test_sound_is_decoded_only_when_the_result_keeps_it(engine: Engine) -> None:
    def run(request: GenerationRequest) -> tuple[EngineResult, list[str]]:
        events: list[Progress] = []
        result = engine.run(request, engine.plan(request), EngineInputs(), progress=events.append)
        return result, [event.stage for event in events]

    with_sound, stages = run(text_request())
    assert with_sound.audio is not None and "decoding audio" in stages
    silent, stages = run(text_request(generate_audio=False))
    assert silent.audio is None and "decoding audio" not in stages
    assert silent.sample_rate == with_sound.sample_rate
    assert with_sound.frames is not None and silent.frames is not None
    assert np.array_equal(silent.frames, with_sound.frames)


def test_it_runs_in_inference_mode(engine: Engine) -> None:
    seen: list[bool] = []
    engine.run(
        REFERENCE,
        engine.plan(REFERENCE),
        EngineInputs(),
        progress=lambda _: seen.append(torch.is_inference_mode_enabled()),
    )
    assert seen and all(seen)


def test_cancel_stops_within_one_step_and_the_engine_carries_on(
    engine: Engine, reference: np.ndarray
) -> None:
    token = CancelToken()
    steps: list[int] = []

    def watch(event: Progress) -> None:
        if event.stage == "denoising":
            steps.append(event.step)
            if event.step == 1:
                token.cancel()

    with pytest.raises(CancelledError):
        engine.run(
            text_request(seed=99, camera=CameraMotion.DOLLY_IN, sampling=replace(FAST, steps=4)),
            engine.plan(text_request(seed=99, sampling=replace(FAST, steps=4))),
            EngineInputs(),
            progress=watch,
            cancel=token,
        )
    assert steps == [0, 1]  # cancelled while step 1 ran: step 2 never started
    assert np.array_equal(frames_of(engine, REFERENCE), reference)


def test_a_failure_mid_request_leaves_the_engine_healthy(engine: Engine, reference: np.ndarray) -> None:
    def explode(event: Progress) -> None:
        if event.stage == "denoising" and event.step == 2:
            raise RuntimeError("the GPU fell off")

    request = text_request(camera=CameraMotion.JIB_DOWN, sampling=replace(FAST, steps=4))
    with pytest.raises(RuntimeError, match="fell off"):
        engine.run(request, engine.plan(request), EngineInputs(), progress=explode)
    assert np.array_equal(frames_of(engine, REFERENCE), reference)


def test_fp8_keeps_transformer_weights_in_float8(tiny_weights: WeightSet, reference: np.ndarray) -> None:
    assert tiny_weights.dev is not None
    engine = Engine(tiny_weights, EngineOptions(fp8=True))
    frames = frames_of(engine, REFERENCE)
    assert frames.shape == reference.shape
    dtypes = {p.dtype for p in engine.models.transformer(tiny_weights.dev, ()).parameters()}
    assert dtypes == {torch.float8_e4m3fn, torch.float32}, "float8 linears, the rest in the CPU's float32"
    frames_of(engine, replace(REFERENCE, camera=CameraMotion.DOLLY_IN))  # LoRAs fuse into FP8 weights too


def test_offload_mode_gives_the_same_video(tiny_weights: WeightSet, reference: np.ndarray) -> None:
    """On this CPU-only machine offloading moves models CPU → CPU; the path runs and changes nothing."""
    engine = Engine(tiny_weights, EngineOptions(offload=True))
    assert np.array_equal(frames_of(engine, REFERENCE), reference)


def test_vae_tiling(tiny_weights: WeightSet, reference: np.ndarray) -> None:
    engine = Engine(tiny_weights, EngineOptions(vae_tiling=True))
    result = generate(engine, REFERENCE)
    assert result.frames is not None and result.frames.shape == reference.shape


def test_the_device_is_cuda_only_when_there_is_one(engine: Engine) -> None:
    assert engine.models.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert Engine(engine.weights, EngineOptions(device="cpu")).models.device == torch.device("cpu")


def test_results_say_they_come_from_the_demo_weights(engine: Engine) -> None:
    assert generate(engine, REFERENCE).demo and engine.demo


@pytest.mark.parametrize(
    ("asked", "device", "expected"),
    [
        (ComputeDtype.AUTO, "cpu", ComputeDtype.FLOAT32),
        (ComputeDtype.AUTO, "cuda", ComputeDtype.BFLOAT16),
        (ComputeDtype.BFLOAT16, "cpu", ComputeDtype.BFLOAT16),
        (ComputeDtype.FLOAT32, "cuda", ComputeDtype.FLOAT32),
    ],
)
def test_the_compute_dtype_is_chosen_per_device(
    asked: ComputeDtype, device: str, expected: ComputeDtype
) -> None:
    assert asked.on(device) is expected


@pytest.mark.parametrize("fixture", ["engine", "bf16_engine"])
def test_every_model_computes_in_the_engine_dtype(fixture: str, request: pytest.FixtureRequest) -> None:
    """Transformer, Gemma and its connectors, both VAEs, the vocoder and the upsampler: all of them."""
    engine: Engine = request.getfixturevalue(fixture)
    expected = torch.float32 if fixture == "engine" else torch.bfloat16
    assert engine.models.dtype == expected
    image = np.full((64, 64, 3), 90, np.uint8)
    unused = MediaRef.file(Path("unused"))  # the engine takes decoded inputs
    first = ImageCondition(unused)
    frames_of(
        engine, text_request(task=Task.IMAGE_TO_VIDEO, first_frame=first), EngineInputs(first_image=image)
    )
    sound = EngineInputs(audio=np.zeros((2, 16_000), np.float32))
    frames_of(engine, text_request(task=Task.AUDIO_TO_VIDEO, audio=unused), sound)
    frames_of(
        engine, text_request(sampling=Sampling(pipeline=Pipeline.TWO_STAGE, steps=2), width=128, height=128)
    )
    built = engine.models.built
    assert {name.split(":")[0] for name in built} >= {
        "transformer", "text_encoder", "embeddings_processor", "video_encoder", "video_decoder",
        "audio_encoder", "audio_decoder", "vocoder", "upscaler",
    }  # fmt: skip
    for name, model in built.items():
        floating = {p.dtype for p in model.parameters() if p.is_floating_point()}
        assert floating == {expected}, (name, floating)


def test_the_encoder_runs_in_tiles_only_above_its_limit(engine: Engine, tiny_weights: WeightSet) -> None:
    from ltxserve.engine.generation import encoder_tiling
    from ltxserve.engine.options import UNTILED_PIXEL_FRAMES
    from ltxserve.engine.planning import Size

    limit = Size(1280, 736)
    assert limit.width * limit.height * 121 == UNTILED_PIXEL_FRAMES
    assert encoder_tiling(engine.models, 121, limit) is None
    assert encoder_tiling(engine.models, 129, limit) is not None
    always = Engine(tiny_weights, EngineOptions(vae_tiling=True)).models
    never = Engine(tiny_weights, EngineOptions(vae_tiling=False)).models
    assert encoder_tiling(always, 9, Size(64, 64)) is not None
    assert encoder_tiling(never, 1001, Size(3840, 2176)) is None
