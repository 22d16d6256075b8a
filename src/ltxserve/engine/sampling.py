"""Sigma schedules, the guided and plain denoisers, and the denoising loop with progress and cancel.

The arithmetic is ltx-core's (GaussianNoiser, EulerDiffusionStep, MultiModalGuider.calculate) in the
order ltx-pipelines applies it, so a request reproduces the official pipelines bit for bit; what is
added is a hook before every step, where progress is reported and cancellation takes effect, and two
opt-in ways to step (`Stepping`): ltx-core's SDE step with fresh noise, and reusing a prediction.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from ltx_core.components.diffusion_steps import EulerDiffusionStep, Res2sDiffusionStep
from ltx_core.components.guiders import MultiModalGuider
from ltx_core.components.schedulers import BetaScheduler, LinearQuadraticScheduler, LTX2Scheduler
from ltx_core.guidance.perturbations import (
    BatchedPerturbationConfig,
    Perturbation,
    PerturbationConfig,
    PerturbationType,
)
from ltx_core.model.transformer import Modality, X0Model
from ltx_core.types import LatentState
from ltx_core.utils import to_denoised, to_velocity

from ltxserve.engine.knobs import Stepping
from ltxserve.request import Scheduler

_EULER = EulerDiffusionStep()
_SDE = Res2sDiffusionStep()
_EULER_LOOP = Stepping()

Denoiser = Callable[[LatentState, LatentState, torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]


def schedule(scheduler: Scheduler, steps: int) -> torch.Tensor:
    chosen = {
        Scheduler.LTX2: LTX2Scheduler,
        Scheduler.LINEAR_QUADRATIC: LinearQuadraticScheduler,
        Scheduler.BETA: BetaScheduler,
    }[scheduler]()
    sigmas: torch.Tensor = chosen.execute(steps=steps)
    return sigmas


def _modality(
    state: LatentState, context: torch.Tensor, sigma: torch.Tensor, enabled: bool = True
) -> Modality:
    return Modality(
        enabled=enabled,
        latent=state.latent,
        sigma=sigma,
        timesteps=state.denoise_mask * sigma,
        positions=state.positions,
        context=context,
        context_mask=None,
        attention_mask=state.attention_mask,
    )


def plain_denoiser(
    transformer: X0Model, video_context: torch.Tensor, audio_context: torch.Tensor
) -> Denoiser:
    """One transformer pass per step: the distilled model and the refining stage need no guidance."""

    def denoise(
        video: LatentState, audio: LatentState, sigmas: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        sigma = sigmas[step]
        result: tuple[torch.Tensor, torch.Tensor] = transformer(
            video=_modality(video, video_context, sigma),
            audio=_modality(audio, audio_context, sigma),
            perturbations=None,
        )
        return result

    return denoise


@dataclass
class GuidedDenoiser:
    """Up to four passes a step, each only when its scale asks for it: conditioned, negative prompt
    (CFG), self-attention skipped in the STG blocks (STG), cross-modal attention skipped (modality)."""

    transformer: X0Model
    video: MultiModalGuider
    audio: MultiModalGuider
    video_context: torch.Tensor
    audio_context: torch.Tensor
    _last: tuple[torch.Tensor, torch.Tensor] | None = None

    def __call__(
        self, video: LatentState, audio: LatentState, sigmas: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        skip_video, skip_audio = self.video.should_skip_step(step), self.audio.should_skip_step(step)
        if skip_video and skip_audio and self._last is not None:
            return self._last
        sigma = sigmas[step]
        video_in = _modality(video, self.video_context, sigma, enabled=not skip_video)
        audio_in = _modality(audio, self.audio_context, sigma, enabled=not skip_audio)
        cond_video, cond_audio = self.transformer(video=video_in, audio=audio_in, perturbations=None)

        negative_video: torch.Tensor | float = 0.0
        negative_audio: torch.Tensor | float = 0.0
        if self.video.do_unconditional_generation() or self.audio.do_unconditional_generation():
            negative_video, negative_audio = self.transformer(
                video=_modality(video, _negative(self.video, self.video_context), sigma),
                audio=_modality(audio, _negative(self.audio, self.audio_context), sigma),
                perturbations=None,
            )

        perturbed_video: torch.Tensor | float = 0.0
        perturbed_audio: torch.Tensor | float = 0.0
        if self.video.do_perturbed_generation() or self.audio.do_perturbed_generation():
            skipped = []
            if self.video.do_perturbed_generation():
                skipped.append(
                    Perturbation(PerturbationType.SKIP_VIDEO_SELF_ATTN, self.video.params.stg_blocks)
                )
            if self.audio.do_perturbed_generation():
                skipped.append(
                    Perturbation(PerturbationType.SKIP_AUDIO_SELF_ATTN, self.audio.params.stg_blocks)
                )
            perturbed_video, perturbed_audio = self.transformer(
                video=video_in, audio=audio_in, perturbations=_batch(skipped)
            )

        isolated_video: torch.Tensor | float = 0.0
        isolated_audio: torch.Tensor | float = 0.0
        if self.video.do_isolated_modality_generation() or self.audio.do_isolated_modality_generation():
            cross = [
                Perturbation(PerturbationType.SKIP_A2V_CROSS_ATTN, None),
                Perturbation(PerturbationType.SKIP_V2A_CROSS_ATTN, None),
            ]
            isolated_video, isolated_audio = self.transformer(
                video=video_in, audio=audio_in, perturbations=_batch(cross)
            )

        last_video, last_audio = self._last if self._last is not None else (cond_video, cond_audio)
        result = (
            last_video
            if skip_video
            else self.video.calculate(cond_video, negative_video, perturbed_video, isolated_video),
            last_audio
            if skip_audio
            else self.audio.calculate(cond_audio, negative_audio, perturbed_audio, isolated_audio),
        )
        self._last = result
        return result


def _negative(guider: MultiModalGuider, positive: torch.Tensor) -> torch.Tensor:
    return guider.negative_context if guider.negative_context is not None else positive


def _batch(perturbations: list[Perturbation]) -> BatchedPerturbationConfig:
    return BatchedPerturbationConfig(perturbations=[PerturbationConfig(perturbations=perturbations)])


def _blend(denoised: torch.Tensor, state: LatentState) -> torch.Tensor:
    """Tokens with strength < 1 are pulled back toward their reference (0 keeps it exactly)."""
    mask = state.denoise_mask
    blended: torch.Tensor = (denoised * mask + state.clean_latent.float() * (1 - mask)).to(denoised.dtype)
    return blended


def denoise(
    sigmas: torch.Tensor,
    video: LatentState,
    audio: LatentState,
    denoiser: Denoiser,
    before_step: Callable[[int], None],
    stepping: Stepping = _EULER_LOOP,
    noise: torch.Generator | None = None,
) -> tuple[LatentState, LatentState]:
    """Steps along `sigmas`; `before_step(i)` runs before step i (and with i = total at the end).
    `noise` draws the fresh noise of `stepping.noise_injection`."""
    if stepping.noise_injection and noise is None:
        raise ValueError("noise injection needs a noise generator")
    previous: dict[str, torch.Tensor] = {}
    predicted: tuple[torch.Tensor, torch.Tensor] | None = None
    steps = len(sigmas) - 1
    for step in range(steps):
        before_step(step)
        if predicted is None or step % (stepping.reuse + 1) == 0:
            predicted = denoiser(video, audio, sigmas, step)
        denoised_video, denoised_audio = _blend(predicted[0], video), _blend(predicted[1], audio)
        if stepping.gradient_estimation > 0:
            if sigmas[step + 1] == 0:
                video, audio = replace(video, latent=denoised_video), replace(audio, latent=denoised_audio)
                break
            gamma = stepping.gradient_estimation
            denoised_video = _estimate(previous, "video", video.latent, denoised_video, sigmas[step], gamma)
            denoised_audio = _estimate(previous, "audio", audio.latent, denoised_audio, sigmas[step], gamma)
        if noise is not None and stepping.noise_injection:
            video = _noised_step(video, denoised_video, sigmas, step, noise)
            audio = _noised_step(audio, denoised_audio, sigmas, step, noise)
        else:
            video = replace(video, latent=_EULER.step(video.latent, denoised_video, sigmas, step))
            audio = replace(audio, latent=_EULER.step(audio.latent, denoised_audio, sigmas, step))
    before_step(steps)
    return video, audio


def _noised_step(
    state: LatentState, denoised: torch.Tensor, sigmas: torch.Tensor, step: int, noise: torch.Generator
) -> LatentState:
    """ltx-core's SDE step: a deterministic move below the next sigma, then fresh noise (half the next
    sigma) back up to it. Held tokens are put back on their reference, as the noise touched them too."""
    fresh = torch.randn(state.latent.shape, generator=noise, device=noise.device, dtype=torch.float32)
    fresh = (fresh - fresh.mean()) / fresh.std()
    moved = _SDE.step(state.latent, denoised, sigmas, step, noise=fresh.to(state.latent.device))
    return replace(state, latent=_blend(moved, state))


def _estimate(
    previous: dict[str, torch.Tensor],
    name: str,
    sample: torch.Tensor,
    denoised: torch.Tensor,
    sigma: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    velocity = to_velocity(sample, sigma, denoised)
    last = previous.get(name)
    previous[name] = velocity
    if last is None:
        return denoised
    estimated: torch.Tensor = to_denoised(sample, gamma * (velocity - last) + last, sigma)
    return estimated
