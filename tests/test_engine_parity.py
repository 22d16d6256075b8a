"""Parity with Lightricks' own pipelines (ltx-pipelines 1.0.0): same weights, seed and inputs give
the same frames and audio, bit for bit. ltx-pipelines always computes in bfloat16, so the engine is
asked for bfloat16 explicitly (on CPU it computes in float32 unless told otherwise).

ltx-pipelines needs two CPU shims (it calls torch.cuda.synchronize unconditionally), and builds Gemma
from its hard-coded 12B settings, so it runs with the tiny Gemma's settings held the same way the
engine holds them. The vocoder returns 18 ms less audio than the clip lasts (its causal mel framing:
4·latents − 3 frames); the engine pads that tail with silence, so audio is compared where both have it.

Where the engine deliberately or incidentally prepares an input differently (an image's CRF-33 round
trip, an image shrunk to a stage, the audio-to-video waveform's dtype), the test pins the difference
by assertion and then shows the rest agrees bit for bit.
"""

import io
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import torch
from ltx_core.components.guiders import MultiModalGuiderParams

from ltxserve import media
from ltxserve.engine.engine import Engine, EngineInputs, EngineResult
from ltxserve.engine.gemma import gemma_architecture, read_gemma_config
from ltxserve.engine.planning import GenerationPlan, RetakePlan, Size
from ltxserve.engine.weights import WeightSet
from ltxserve.media.testsrc import synthetic_clip
from ltxserve.probing import probe_inputs
from ltxserve.render import read_inputs
from ltxserve.request import (
    Duration,
    GenerationRequest,
    Guidance,
    ImageCondition,
    MediaRef,
    Pipeline,
    RetakeMode,
    RetakeOptions,
    Sampling,
    Task,
)
from tests.mediafiles import tone, write_audio, write_image, write_video

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


def test_one_stage_text_to_video(official: None, bf16_engine: Engine, tiny_weights: WeightSet) -> None:
    from ltx_pipelines import TI2VidOneStagePipeline

    pipeline = TI2VidOneStagePipeline(
        checkpoint_path=str(tiny_weights.dev), gemma_root=str(tiny_weights.gemma), loras=[]
    )
    assert_guided_text_to_video_matches(
        pipeline, bf16_engine, Pipeline.ONE_STAGE, seed=7, size=(96, 64), frames=17, steps=4
    )


def test_distilled_two_stage(official: None, bf16_engine: Engine, tiny_weights: WeightSet) -> None:
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
    assert_same(bf16_engine.run(request, bf16_engine.plan(request), EngineInputs()), frames, audio)


def test_retake(official: None, bf16_engine: Engine, tiny_weights: WeightSet, tmp_path: Path) -> None:
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
    plan = bf16_engine.plan(request, infos["retake.video"].video)
    assert isinstance(plan, RetakePlan)
    ours = bf16_engine.run(request, plan, read_inputs(request, plan, infos))
    # ours returns the regenerated window only; the official pipeline decodes the whole clip
    assert plan.window is not None and plan.audio_window is not None
    assert ours.frames is not None and ours.audio is not None
    assert np.array_equal(ours.frames, frames[plan.window.start : plan.window.stop])
    first, last = round(plan.audio_window[0] * 48_000), round(plan.audio_window[1] * 48_000)
    assert np.array_equal(ours.audio, audio[:, first:last])


def test_two_stage(official: None, bf16_engine: Engine, tiny_weights: WeightSet) -> None:
    """The default pipeline: a guided pass at half size without the distilled LoRA, the x2 latent
    upscale, then 3 refining steps with the distilled LoRA at full strength."""
    from ltx_core.loader import LTXV_LORA_COMFY_RENAMING_MAP, LoraPathStrengthAndSDOps
    from ltx_pipelines import TI2VidTwoStagesPipeline

    assert tiny_weights.distilled_lora is not None
    pipeline = TI2VidTwoStagesPipeline(
        checkpoint_path=str(tiny_weights.dev),
        distilled_lora=[
            LoraPathStrengthAndSDOps(str(tiny_weights.distilled_lora), 1.0, LTXV_LORA_COMFY_RENAMING_MAP)
        ],
        spatial_upsampler_path=str(tiny_weights.upscaler),
        gemma_root=str(tiny_weights.gemma),
        loras=[],
    )
    assert_guided_text_to_video_matches(
        pipeline, bf16_engine, Pipeline.TWO_STAGE, seed=11, size=(192, 128), frames=9, steps=3
    )


def test_first_and_last_frame(
    official: None, bf16_engine: Engine, tiny_weights: WeightSet, tmp_path: Path
) -> None:
    """Image-to-video pinned at both ends: frame 0 replaces the first latent, the last frame is an
    appended keyframe (ltx-pipelines' `combined_image_conditionings`, as the one-stage pipeline uses).

    Both sides pass each image through H.264 at CRF 33 first, but not the same way: ltx-pipelines
    (media_io.encode_single_frame / decode_single_frame) converts RGB↔YUV with swscale's defaults (the
    BT.601 matrix, bilinear chroma downsampling); the engine (conditioning.compress_like_video) with
    the BT.709 matrix and bicubic chroma. The compressed pixels differ, so the official pipeline is given
    the engine's compressed pixels as lossless PNGs with CRF 0 (its "no compression"); from there on
    the two agree bit for bit. The images are at the output size, so neither side resizes them."""
    from ltx_pipelines import TI2VidOneStagePipeline
    from ltx_pipelines.utils.args import ImageConditioningInput
    from ltx_pipelines.utils.media_io import preprocess

    from ltxserve.engine.conditioning import compress_like_video

    codes = synthetic_clip(96, 64, 9, Fraction(24), sample_rate=None).frames
    first = write_image(tmp_path / "first.png", codes[0], "png", "image2")
    last = write_image(tmp_path / "last.png", codes[8], "png", "image2")
    for image in (codes[0], codes[8]):
        ours = compress_like_video(image)
        assert not np.array_equal(ours, preprocess(image, 33))
        assert np.array_equal(ours, h264_round_trip(image, colorspace="ITU709", interpolation="BICUBIC"))
        assert np.array_equal(
            preprocess(image, 33), h264_round_trip(image, colorspace=None, interpolation=None)
        )
    same_first = write_image(tmp_path / "first-crf33.png", compress_like_video(codes[0]), "png", "image2")
    same_last = write_image(tmp_path / "last-crf33.png", compress_like_video(codes[8]), "png", "image2")

    pipeline = TI2VidOneStagePipeline(
        checkpoint_path=str(tiny_weights.dev), gemma_root=str(tiny_weights.gemma), loras=[]
    )
    frames, audio = official_output(
        *pipeline(
            prompt="a cat walks",
            negative_prompt="blurry",
            seed=3,
            height=64,
            width=96,
            num_frames=9,
            frame_rate=24.0,
            num_inference_steps=3,
            video_guider_params=VIDEO,
            audio_guider_params=AUDIO,
            images=[
                ImageConditioningInput(str(same_first), 0, 1.0, 0),
                ImageConditioningInput(str(same_last), 8, 1.0, 0),
            ],
        )
    )
    request = GenerationRequest(
        Task.IMAGE_TO_VIDEO,
        "a cat walks",
        negative_prompt="blurry",
        seed=3,
        width=96,
        height=64,
        duration=Duration.of_frames(9),
        fps=Fraction(24),
        first_frame=ImageCondition(MediaRef.file(first)),
        last_frame=ImageCondition(MediaRef.file(last)),
        sampling=Sampling(pipeline=Pipeline.ONE_STAGE, steps=3, video=SAME_VIDEO, audio=SAME_AUDIO),
    )
    plan = bf16_engine.plan(request)
    assert isinstance(plan, GenerationPlan) and plan.last_frame_index == 8
    inputs = read_inputs(request, plan, probe_inputs(request, media.MediaLimits()))
    assert inputs.first_image is not None and np.array_equal(inputs.first_image, codes[0])
    assert_same(bf16_engine.run(request, plan, inputs), frames, audio)


def test_image_resize_to_a_stage() -> None:
    """Where else the two image paths differ: fitting an image to a stage's size. Both scale it
    (bilinear, half-pixel centres) to cover the size and cut out the centre, and agree bit for bit
    when the image is enlarged. When it is shrunk, the engine (conditioning._cover_and_crop)
    antialiases and ltx-pipelines (media_io.resize_and_center_crop) does not, so a first or last
    frame larger than a stage is conditioned on different pixels there; the parity test above keeps
    its images at the output size."""
    from ltx_pipelines.utils.media_io import normalize_latent, resize_and_center_crop

    from ltxserve.engine.conditioning import to_model_pixels

    cpu, size = torch.device("cpu"), Size(96, 64)

    def theirs(image: np.ndarray) -> torch.Tensor:
        pixels = torch.tensor(image, dtype=torch.float32)
        fitted: torch.Tensor = normalize_latent(resize_and_center_crop(pixels, 64, 96), cpu, torch.bfloat16)
        return fitted

    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    assert torch.equal(to_model_pixels(small[None], size, cpu, torch.bfloat16), theirs(small))

    large = rng.integers(0, 256, (120, 200, 3), dtype=np.uint8)
    ours = to_model_pixels(large[None], size, cpu, torch.bfloat16)
    assert not torch.equal(ours, theirs(large))
    # 200x120 covers 96x64 at 107x64; both cut out columns 5-100. The engine's pixels are the
    # official ones with antialiasing on:
    pixels = torch.tensor(large, dtype=torch.float32).permute(2, 0, 1)[None]
    covered = torch.nn.functional.interpolate(pixels, size=(64, 107), mode="bilinear", antialias=True)
    assert torch.equal(ours, normalize_latent(covered[:, :, None, :, 5:101], cpu, torch.bfloat16))


def h264_round_trip(image: np.ndarray, colorspace: str | None, interpolation: str | None) -> np.ndarray:
    """One frame through libx264 at CRF 33 (veryfast) with the given RGB↔YUV matrix and chroma filter
    (None: swscale's defaults), written out here so the test names what each side chooses."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=1, options={"crf": "33", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = image.shape[1], image.shape[0], "yuv420p"
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(
            format="yuv420p", dst_colorspace=colorspace, interpolation=interpolation
        )
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    buffer.seek(0)
    with av.open(buffer, "r") as container:
        decoded = next(container.decode(video=0))
        return decoded.reformat(format="rgb24", src_colorspace=colorspace).to_ndarray()


def test_audio_to_video(
    official: None,
    bf16_engine: Engine,
    tiny_weights: WeightSet,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Audio-to-video, two-stage: the given audio is held (audio mask 0) while the video is generated.

    One difference, pinned here: the official A2Vid pipeline encodes the decoded float32 waveform
    (a2vid_two_stage.py: `vae_encode_audio(decoded_audio, ...)`), so the mel spectrogram is computed
    in float32 and only then cast to the encoder's bfloat16. The engine (generation._encode_audio)
    casts the waveform to the compute dtype before the mel transform, as the official *retake* pipeline
    does (retake.py: `Audio(waveform=waveform_batch.to(dtype), ...)`). The two latents differ, so the
    video differs slightly. With the A2Vid pipeline's audio encoding given the waveform in bfloat16,
    as RetakePipeline gives it, the two agree bit for bit; the engine follows RetakePipeline's
    choice, not A2Vid's.

    The source is 16 kHz stereo PCM, exactly the clip's length: the audio VAE's rate, so neither side
    resamples, and A2Vid (which reads the whole file) sees the same samples as the engine. The audio
    guider is the neutral `MultiModalGuiderParams()` A2Vid hard-codes: with the engine's default audio
    guidance (STG on the audio too), the perturbed pass also skips audio self-attention, which changes
    the video through the audio-to-video cross-attention."""
    from ltx_core.loader import LTXV_LORA_COMFY_RENAMING_MAP, LoraPathStrengthAndSDOps
    from ltx_core.model.audio_vae import AudioEncoder, AudioProcessor, encode_audio
    from ltx_core.types import Audio
    from ltx_pipelines import a2vid_two_stage

    samples = tone(9 / 24, 16_000)
    source = write_audio(tmp_path / "voice.wav", samples, 16_000, "pcm_s16le", "wav")
    assert a2vid_two_stage.vae_encode_audio is encode_audio
    encoded: list[torch.Tensor] = []

    def encode_like_retake(
        audio: Audio, encoder: AudioEncoder, processor: AudioProcessor | None = None
    ) -> torch.Tensor:
        assert audio.waveform.dtype == torch.float32  # what A2Vid passes
        as_float32 = encode_audio(audio, encoder, processor)
        as_bfloat16: torch.Tensor = encode_audio(
            Audio(audio.waveform.to(torch.bfloat16), audio.sampling_rate), encoder, processor
        )
        assert not torch.equal(as_float32, as_bfloat16)
        encoded.append(as_bfloat16)
        return as_bfloat16

    monkeypatch.setattr(a2vid_two_stage, "vae_encode_audio", encode_like_retake)
    assert tiny_weights.distilled_lora is not None
    pipeline = a2vid_two_stage.A2VidPipelineTwoStage(
        checkpoint_path=str(tiny_weights.dev),
        distilled_lora=[
            LoraPathStrengthAndSDOps(str(tiny_weights.distilled_lora), 1.0, LTXV_LORA_COMFY_RENAMING_MAP)
        ],
        spatial_upsampler_path=str(tiny_weights.upscaler),
        gemma_root=str(tiny_weights.gemma),
        loras=[],
    )
    frames, audio = official_output(
        *pipeline(
            prompt="a cat walks",
            negative_prompt="blurry",
            seed=13,
            height=128,
            width=192,
            num_frames=9,
            frame_rate=24.0,
            num_inference_steps=3,
            video_guider_params=VIDEO,
            images=[],
            audio_path=str(source),
        )
    )
    assert len(encoded) == 1
    neutral = Guidance(cfg=1.0, stg=0.0, rescale=0.0, modality=1.0, stg_blocks=(), skip_step=0)
    request = GenerationRequest(
        Task.AUDIO_TO_VIDEO,
        "a cat walks",
        negative_prompt="blurry",
        seed=13,
        width=192,
        height=128,
        duration=Duration.of_frames(9),
        fps=Fraction(24),
        audio=MediaRef.file(source),
        sampling=Sampling(pipeline=Pipeline.TWO_STAGE, steps=3, video=SAME_VIDEO, audio=neutral),
    )
    plan = bf16_engine.plan(request)
    assert isinstance(plan, GenerationPlan)
    inputs = read_inputs(request, plan, probe_inputs(request, media.MediaLimits()))
    ours = bf16_engine.run(request, plan, inputs)
    assert ours.frames is not None and np.array_equal(ours.frames, frames)
    # Both keep the given audio: the official pipeline returns it as decoded, the engine leaves it to
    # the media layer (render muxes the input's own audio) and returns none.
    assert ours.audio is None
    assert inputs.audio is not None and np.array_equal(audio, inputs.audio)


def assert_guided_text_to_video_matches(
    pipeline: Any,
    engine: Engine,
    kind: Pipeline,
    *,
    seed: int,
    size: tuple[int, int],
    frames: int,
    steps: int,
) -> None:
    """The guided reference `pipeline` and the engine's `kind`, asked for the same text-to-video."""
    width, height = size
    official_frames, official_audio = official_output(
        *pipeline(
            prompt="a cat walks",
            negative_prompt="blurry",
            seed=seed,
            height=height,
            width=width,
            num_frames=frames,
            frame_rate=24.0,
            num_inference_steps=steps,
            video_guider_params=VIDEO,
            audio_guider_params=AUDIO,
            images=[],
        )
    )
    request = GenerationRequest(
        Task.TEXT_TO_VIDEO,
        "a cat walks",
        negative_prompt="blurry",
        seed=seed,
        width=width,
        height=height,
        duration=Duration.of_frames(frames),
        fps=Fraction(24),
        sampling=Sampling(pipeline=kind, steps=steps, video=SAME_VIDEO, audio=SAME_AUDIO),
    )
    assert_same(engine.run(request, engine.plan(request), EngineInputs()), official_frames, official_audio)
