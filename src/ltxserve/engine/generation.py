"""One planned clip through its stages: noise, denoise (with references and pinned images held),
upscale between stages, decode. Every task ends up here; they differ only in plan and conditioning."""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from ltx_core.components.guiders import MultiModalGuider, MultiModalGuiderParams
from ltx_core.components.noisers import GaussianNoiser
from ltx_core.components.patchifiers import AudioPatchifier, VideoLatentPatchifier
from ltx_core.conditioning import ConditioningItem, VideoConditionByKeyframeIndex, VideoConditionByLatentIndex
from ltx_core.model.audio_vae import decode_audio, encode_audio
from ltx_core.model.upsampler import upsample_video
from ltx_core.model.video_vae import TilingConfig, decode_video
from ltx_core.text_encoders.gemma.embeddings_processor import EmbeddingsProcessorOutput
from ltx_core.tools import AudioLatentTools, LatentTools, VideoLatentTools
from ltx_core.types import Audio, AudioLatentShape, LatentState, VideoLatentShape, VideoPixelShape

from ltxserve.engine.conditioning import HeldReference, to_model_pixels
from ltxserve.engine.knobs import LoraSpec, Stepping
from ltxserve.engine.models import ResidentModels
from ltxserve.engine.options import UNTILED_PIXEL_FRAMES
from ltxserve.engine.planning import ClipPlan, Size
from ltxserve.engine.sampling import Denoiser, GuidedDenoiser, denoise, plain_denoiser

MODEL_AUDIO_RATE = 16_000
"""The audio VAE's input rate; references are given at this rate."""
VIDEO_LATENT_CHANNELS = 128


@dataclass(frozen=True)
class ImagePin:
    pixels: np.ndarray
    """uint8 (H, W, 3), any size: resized to cover each stage and centre-cropped."""
    frame: int
    strength: float


@dataclass(frozen=True)
class Conditioning:
    video: np.ndarray | None = None
    """uint8 (frames, H, W, 3) at the model size, held where the plan's video mask is < 1."""
    audio: np.ndarray | None = None
    """float32 (2, samples) at 16 kHz for the clip's duration, held where the audio mask is < 1."""
    images: tuple[ImagePin, ...] = ()


@dataclass(frozen=True)
class Stage:
    """One denoising pass: which weights, which schedule, guided or not."""

    name: str
    checkpoint: Path
    loras: tuple[LoraSpec, ...]
    sigmas: tuple[float, ...] | torch.Tensor
    guidance: tuple[MultiModalGuiderParams, MultiModalGuiderParams] | None
    stepping: Stepping = field(default_factory=Stepping)


Report = Callable[[str, int, int], None]
"""(stage name, step, total): also where cancellation takes effect."""


@dataclass(frozen=True)
class Decoded:
    frames: np.ndarray
    """uint8 (frames, H, W, 3) at the model size."""
    audio: np.ndarray | None
    """float32 (2, samples) at `sample_rate`; None when the request keeps no generated sound."""
    sample_rate: int


def generate_clip(
    models: ResidentModels,
    clip: ClipPlan,
    conditioning: Conditioning,
    stages: list[Stage],
    prompt: EmbeddingsProcessorOutput,
    negative: EmbeddingsProcessorOutput | None,
    seed: int,
    report: Report,
    decode_sound: bool = True,
) -> Decoded:
    """Denoise every stage and decode. The audio latent is always denoised (video and sound are one
    joint model), but turned into a waveform only when `decode_sound` says the result keeps it."""
    device = models.device
    checkpoint = stages[0].checkpoint
    generator = torch.Generator(device=device).manual_seed(seed)
    noiser = GaussianNoiser(generator=generator)
    audio_reference = None
    if conditioning.audio is not None:
        report("encoding audio", 0, 1)
        audio_reference = _encode_audio(models, checkpoint, conditioning.audio, clip)
    video_latent: torch.Tensor | None = None
    audio_latent: torch.Tensor | None = None
    for index, (size, stage) in enumerate(zip(clip.stages, stages, strict=True)):
        shape = VideoPixelShape(
            batch=1, frames=clip.frames, width=size.width, height=size.height, fps=float(clip.fps)
        )
        video_tools = VideoLatentTools(
            VideoLatentPatchifier(patch_size=1),
            VideoLatentShape.from_pixel_shape(shape, latent_channels=VIDEO_LATENT_CHANNELS),
            shape.fps,
        )
        audio_tools = AudioLatentTools(
            AudioPatchifier(patch_size=1), AudioLatentShape.from_video_pixel_shape(shape)
        )
        video_items = _video_items(models, checkpoint, clip, conditioning, size, report)
        audio_items: list[ConditioningItem] = []
        if audio_reference is not None:
            audio_items.append(HeldReference(audio_reference, clip.audio_mask))
        sigmas = torch.as_tensor(stage.sigmas, dtype=torch.float32).to(device)
        if index == 0:
            initial_video, noise_scale = None, 1.0
        else:
            assert video_latent is not None
            report("upsampling", 0, 1)
            encoder, upscaler = models.video_encoder(checkpoint), models.upscaler()
            with models.running(encoder, upscaler):
                initial_video = upsample_video(
                    latent=video_latent[:1], video_encoder=encoder, upsampler=upscaler
                )
            noise_scale = sigmas[0]  # type: ignore[assignment]  # a 0-d tensor, as ltx-pipelines passes it
        video_state = noiser(_initial(video_tools, video_items, initial_video, models), noise_scale)
        audio_state = noiser(_initial(audio_tools, audio_items, audio_latent, models), noise_scale)
        report(f"applying LoRAs for {stage.name}", 0, 1)
        transformer = models.transformer(stage.checkpoint, stage.loras)
        denoiser = _denoiser(transformer, stage, prompt, negative)
        with models.running(transformer):
            video_state, audio_state = denoise(
                sigmas,
                video_state,
                audio_state,
                denoiser,
                before_step=_reporter(report, stage.name, len(sigmas) - 1),
                stepping=stage.stepping,
                noise=_step_noise(device, seed, index) if stage.stepping.noise_injection else None,
            )
        video_latent = video_tools.unpatchify(video_tools.clear_conditioning(video_state)).latent
        audio_latent = audio_tools.unpatchify(audio_tools.clear_conditioning(audio_state)).latent
    assert video_latent is not None and audio_latent is not None
    return _decode(
        models, checkpoint, video_latent, audio_latent if decode_sound else None, generator, report
    )


def _step_noise(device: torch.device, seed: int, stage: int) -> torch.Generator:
    """The injected noise's own stream, so that the initial noise stays the seed's."""
    return torch.Generator(device=device).manual_seed((seed + 1 + stage) % 2**63)


def load_models(models: ResidentModels, conditioning: Conditioning, stages: list[Stage]) -> None:
    """Build every model `generate_clip` will use, so that its stages only compute. Models are built
    once per process: after the first request this is a lookup."""
    checkpoint = stages[0].checkpoint
    models.text_encoder()
    models.embeddings_processor(checkpoint)
    for stage in stages:
        models.build_transformer(stage.checkpoint)
    if conditioning.video is not None or conditioning.images or len(stages) > 1:
        models.video_encoder(checkpoint)
    if len(stages) > 1:
        models.upscaler()
    if conditioning.audio is not None:
        models.audio_encoder(checkpoint)
    models.video_decoder(checkpoint)
    models.audio_decoder(checkpoint)
    models.vocoder(checkpoint)


def _reporter(report: Report, name: str, total: int) -> Callable[[int], None]:
    return lambda step: report(name, step, total)


def _initial(
    tools: LatentTools, items: list[ConditioningItem], latent: torch.Tensor | None, models: ResidentModels
) -> LatentState:
    state = tools.create_initial_state(models.device, models.dtype, latent)
    for item in items:
        state = item.apply_to(latent_state=state, latent_tools=tools)
    return state


def _video_items(
    models: ResidentModels,
    checkpoint: Path,
    clip: ClipPlan,
    conditioning: Conditioning,
    size: Size,
    report: Report,
) -> list[ConditioningItem]:
    items: list[ConditioningItem] = []
    if conditioning.video is None and not conditioning.images:
        return items
    report("encoding video", 0, 1)
    encoder = models.video_encoder(checkpoint)
    with models.running(encoder):
        if conditioning.video is not None:
            pixels = to_model_pixels(conditioning.video, size, models.device, models.dtype)
            tiling = encoder_tiling(models, pixels.shape[2], size)
            latent = encoder(pixels) if tiling is None else encoder.tiled_encode(pixels, tiling)
            items.append(HeldReference(latent, clip.video_mask))
        for pin in conditioning.images:
            latent = encoder(to_model_pixels(pin.pixels[None], size, models.device, models.dtype))
            if pin.frame == 0:
                items.append(VideoConditionByLatentIndex(latent=latent, strength=pin.strength, latent_idx=0))
            else:
                items.append(
                    VideoConditionByKeyframeIndex(
                        keyframes=latent, frame_idx=pin.frame, strength=pin.strength
                    )
                )
    return items


def encoder_tiling(models: ResidentModels, pixel_frames: int, size: Size) -> TilingConfig | None:
    """Tiles for the VAE encoder, as the options say; by default only above `UNTILED_PIXEL_FRAMES`."""
    tiled = models.options.vae_tiling
    if tiled is None:
        tiled = pixel_frames * size.width * size.height > UNTILED_PIXEL_FRAMES
    return TilingConfig.default() if tiled else None


def _encode_audio(
    models: ResidentModels, checkpoint: Path, samples: np.ndarray, clip: ClipPlan
) -> torch.Tensor:
    """The reference audio's latent, trimmed or zero-padded to the clip's audio latent count."""
    encoder = models.audio_encoder(checkpoint)
    waveform = torch.from_numpy(np.ascontiguousarray(samples)).unsqueeze(0)
    waveform = waveform.to(device=models.device, dtype=models.dtype)
    with models.running(encoder):
        latent = encode_audio(Audio(waveform=waveform, sampling_rate=MODEL_AUDIO_RATE), encoder, None)
    wanted = len(clip.audio_mask)
    if latent.shape[2] >= wanted:
        trimmed: torch.Tensor = latent[:, :, :wanted]
        return trimmed
    padding = torch.zeros(
        (*latent.shape[:2], wanted - latent.shape[2], latent.shape[3]),
        dtype=latent.dtype,
        device=latent.device,
    )
    return torch.cat([latent, padding], dim=2)


def _denoiser(
    transformer: torch.nn.Module,
    stage: Stage,
    prompt: EmbeddingsProcessorOutput,
    negative: EmbeddingsProcessorOutput | None,
) -> Denoiser:
    if stage.guidance is None:
        return plain_denoiser(transformer, prompt.video_encoding, prompt.audio_encoding)
    video_params, audio_params = stage.guidance
    return GuidedDenoiser(
        transformer=transformer,
        video=MultiModalGuider(
            params=video_params, negative_context=negative.video_encoding if negative else None
        ),
        audio=MultiModalGuider(
            params=audio_params, negative_context=negative.audio_encoding if negative else None
        ),
        video_context=prompt.video_encoding,
        audio_context=prompt.audio_encoding,
    )


def _decode(
    models: ResidentModels,
    checkpoint: Path,
    video_latent: torch.Tensor,
    audio_latent: torch.Tensor | None,
    generator: torch.Generator,
    report: Report,
) -> Decoded:
    report("decoding video", 0, 1)
    decoder = models.video_decoder(checkpoint)
    tiling = TilingConfig.default() if models.options.vae_tiling else None
    with models.running(decoder):
        chunks = [chunk.cpu() for chunk in decode_video(video_latent, decoder, tiling, generator)]
    frames = torch.cat(chunks).numpy()
    vocoder = models.vocoder(checkpoint)
    if audio_latent is None:
        return Decoded(frames=frames, audio=None, sample_rate=vocoder.output_sampling_rate)
    report("decoding audio", 0, 1)
    audio_decoder = models.audio_decoder(checkpoint)
    with models.running(audio_decoder, vocoder):
        audio = decode_audio(audio_latent, audio_decoder, vocoder)
    samples = audio.waveform.float().cpu().numpy().astype(np.float32)
    return Decoded(
        frames=frames, audio=samples.reshape(-1, samples.shape[-1]), sample_rate=audio.sampling_rate
    )
