"""Sigma schedules, the guided and plain denoisers, and the denoising loop with progress and cancel.

The arithmetic is ltx-core's (GaussianNoiser, EulerDiffusionStep, MultiModalGuider.calculate) in the
order ltx-pipelines applies it, so a request reproduces the official pipelines bit for bit; what is
added is a hook before every step, where progress is reported and cancellation takes effect.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from ltx_core.components.diffusion_steps import EulerDiffusionStep
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

from ltxserve.request import Scheduler

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
    gradient_estimation: float = 0.0,
) -> tuple[LatentState, LatentState]:
    """Euler steps along `sigmas`; `before_step(i)` runs before step i (and with i = total at the end).
    With `gradient_estimation` > 0 the velocity is extrapolated from the previous step (γ)."""
    stepper = EulerDiffusionStep()
    previous: dict[str, torch.Tensor] = {}
    steps = len(sigmas) - 1
    for step in range(steps):
        before_step(step)
        denoised_video, denoised_audio = denoiser(video, audio, sigmas, step)
        denoised_video, denoised_audio = _blend(denoised_video, video), _blend(denoised_audio, audio)
        if gradient_estimation > 0:
            if sigmas[step + 1] == 0:
                video, audio = replace(video, latent=denoised_video), replace(audio, latent=denoised_audio)
                break
            denoised_video = _estimate(
                previous, "video", video.latent, denoised_video, sigmas[step], gradient_estimation
            )
            denoised_audio = _estimate(
                previous, "audio", audio.latent, denoised_audio, sigmas[step], gradient_estimation
            )
        video = replace(video, latent=stepper.step(video.latent, denoised_video, sigmas, step))
        audio = replace(audio, latent=stepper.step(audio.latent, denoised_audio, sigmas, step))
    before_step(steps)
    return video, audio


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
