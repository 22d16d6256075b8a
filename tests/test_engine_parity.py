"""Parity with Lightricks' own pipelines (ltx-pipelines 1.0.0): same weights, seed and inputs give
the same frames and audio, bit for bit.

ltx-pipelines needs two CPU shims (it calls torch.cuda.synchronize unconditionally), and builds Gemma
from its hard-coded 12B settings, so it runs with the tiny Gemma's settings held the same way the
engine holds them. The vocoder returns 18 ms less audio than the clip lasts (its causal mel framing:
4·latents − 3 frames); the engine pads that tail with silence, so audio is compared where both have it.
"""

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from ltx_core.components.guiders import MultiModalGuiderParams

from ltxserve import media
from ltxserve.engine.engine import Engine, EngineInputs, EngineResult
from ltxserve.engine.gemma import gemma_architecture, read_gemma_config
from ltxserve.engine.planning import RetakePlan
from ltxserve.engine.weights import WeightSet
from ltxserve.media.testsrc import synthetic_clip
from ltxserve.render import probe_inputs, read_inputs
from ltxserve.request import (
    Duration,
    GenerationRequest,
    Guidance,
    MediaRef,
    Pipeline,
    RetakeMode,
    RetakeOptions,
    Sampling,
    Task,
)
from tests.mediafiles import write_video

# The official LTX-2.3 defaults, with STG on block 1 because the tiny model has only two blocks.
VIDEO = MultiModalGuiderParams(
    cfg_scale=3.0, stg_scale=1.0, rescale_scale=0.7, modality_scale=3.0, skip_step=0, stg_blocks=[1]
)
AUDIO = MultiModalGuiderParams(
    cfg_scale=7.0, stg_scale=1.0, rescale_scale=0.7, modality_scale=3.0, skip_step=0, stg_blocks=[1]
)
SAME_VIDEO = Guidance(cfg=3.0, stg=1.0, rescale=0.7, modality=3.0, stg_blocks=(1,), skip_step=0)
SAME_AUDIO = Guidance(cfg=7.0, stg=1.0, rescale=0.7, modality=3.0, stg_blocks=(1,), skip_step=0)


@pytest.fixture
def official(monkeypatch: pytest.MonkeyPatch, tiny_weights: WeightSet) -> Iterator[None]:
    if not torch.cuda.is_available():
        monkeypatch.setattr(torch.cuda, "synchronize", lambda *args, **kwargs: None)
    assert tiny_weights.gemma is not None
    with gemma_architecture(read_gemma_config(tiny_weights.gemma)), torch.inference_mode():
        yield


def official_output(video: Iterator[torch.Tensor], audio: object) -> tuple[np.ndarray, np.ndarray]:
    waveform = audio.waveform if hasattr(audio, "waveform") else audio
    return torch.cat(list(video)).numpy(), waveform.float().numpy()  # type: ignore[union-attr]


def assert_same(ours: EngineResult, frames: np.ndarray, audio: np.ndarray) -> None:
    assert ours.frames is not None and ours.audio is not None
    assert np.array_equal(ours.frames, frames)
    assert np.array_equal(ours.audio[:, : audio.shape[1]], audio)
    assert not ours.audio[:, audio.shape[1] :].any()


def test_one_stage_text_to_video(official: None, engine: Engine, tiny_weights: WeightSet) -> None:
    from ltx_pipelines import TI2VidOneStagePipeline

    pipeline = TI2VidOneStagePipeline(
        checkpoint_path=str(tiny_weights.dev), gemma_root=str(tiny_weights.gemma), loras=[]
    )
    frames, audio = official_output(
        *pipeline(
            prompt="a cat walks",
            negative_prompt="blurry",
            seed=7,
            height=64,
            width=96,
            num_frames=17,
            frame_rate=24.0,
            num_inference_steps=4,
            video_guider_params=VIDEO,
            audio_guider_params=AUDIO,
            images=[],
        )
    )
    request = GenerationRequest(
        Task.TEXT_TO_VIDEO,
        "a cat walks",
        negative_prompt="blurry",
        seed=7,
        width=96,
        height=64,
        duration=Duration.of_frames(17),
        fps=Fraction(24),
        sampling=Sampling(pipeline=Pipeline.ONE_STAGE, steps=4, video=SAME_VIDEO, audio=SAME_AUDIO),
    )
    assert_same(engine.run(request, engine.plan(request), EngineInputs()), frames, audio)


def test_distilled_two_stage(official: None, engine: Engine, tiny_weights: WeightSet) -> None:
    from ltx_pipelines import DistilledPipeline

    pipeline = DistilledPipeline(
        distilled_checkpoint_path=str(tiny_weights.distilled),
        gemma_root=str(tiny_weights.gemma),
        spatial_upsampler_path=str(tiny_weights.upscaler),
        loras=[],
    )
    frames, audio = official_output(
        *pipeline(
            prompt="a cat walks", seed=9, height=128, width=192, num_frames=17, frame_rate=24.0, images=[]
        )
    )
    request = GenerationRequest(
        Task.TEXT_TO_VIDEO,
        "a cat walks",
        seed=9,
        width=192,
        height=128,
        duration=Duration.of_frames(17),
        fps=Fraction(24),
        sampling=Sampling(pipeline=Pipeline.DISTILLED),
    )
    assert_same(engine.run(request, engine.plan(request), EngineInputs()), frames, audio)


def test_retake(official: None, engine: Engine, tiny_weights: WeightSet, tmp_path: Path) -> None:
    """The source is lossless RGB (PNG in MOV) with 16 kHz PCM, so both decoders read the same numbers."""
    from ltx_pipelines import RetakePipeline

    clip = synthetic_clip(96, 64, 33, Fraction(24), sample_rate=16_000)
    assert clip.audio is not None
    source = write_video(
        tmp_path / "rgb.mov",
        clip.frames,
        Fraction(24),
        container_format="mov",
        codec="png",
        pix_fmt="rgb24",
        audio=clip.audio.samples,
        sample_rate=16_000,
        audio_codec="pcm_s16le",
    )
    pipeline = RetakePipeline(
        checkpoint_path=str(tiny_weights.dev), gemma_root=str(tiny_weights.gemma), loras=[]
    )
    frames, audio = official_output(
        *pipeline(
            video_path=str(source),
            prompt="a dog runs",
            start_time=0.4,
            end_time=0.9,
            seed=5,
            negative_prompt="blurry",
            num_inference_steps=3,
            video_guider_params=VIDEO,
            audio_guider_params=AUDIO,
        )
    )
    request = GenerationRequest(
        Task.RETAKE,
        "a dog runs",
        negative_prompt="blurry",
        seed=5,
        retake=RetakeOptions(
            MediaRef.file(source), Fraction(2, 5), Fraction(1, 2), RetakeMode.REPLACE_AUDIO_AND_VIDEO
        ),
        sampling=Sampling(pipeline=Pipeline.ONE_STAGE, steps=3, video=SAME_VIDEO, audio=SAME_AUDIO),
    )
    infos = probe_inputs(request, media.MediaLimits())
    plan = engine.plan(request, infos["retake.video"].video)
    assert isinstance(plan, RetakePlan)
    ours = engine.run(request, plan, read_inputs(request, plan, infos))
    # ours returns the regenerated window only; the official pipeline decodes the whole clip
    assert plan.window is not None and plan.audio_window is not None
    assert ours.frames is not None and ours.audio is not None
    assert np.array_equal(ours.frames, frames[plan.window.start : plan.window.stop])
    first, last = round(plan.audio_window[0] * 48_000), round(plan.audio_window[1] * 48_000)
    assert np.array_equal(ours.audio, audio[:, first:last])
