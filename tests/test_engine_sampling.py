"""The guided denoiser against a scripted transformer: which passes each scale asks for, and the
exact guidance arithmetic (CFG, STG, modality isolation, rescale, skipped steps), and the ways the
loop steps (reusing a prediction, injecting noise)."""

from dataclasses import dataclass, field

import pytest
import torch
from ltx_core.components.guiders import MultiModalGuider, MultiModalGuiderParams
from ltx_core.guidance.perturbations import BatchedPerturbationConfig, PerturbationType
from ltx_core.types import LatentState

from ltxserve.engine.knobs import Stepping
from ltxserve.engine.sampling import GuidedDenoiser, denoise, plain_denoiser

POSITIVE, NEGATIVE = torch.full((1, 4, 8), 1.0), torch.full((1, 4, 8), -1.0)


@dataclass
class ScriptedTransformer:
    """Returns a different constant for each kind of pass, and records the passes made."""

    passes: list[str] = field(default_factory=list)

    def __call__(
        self, video: object, audio: object, perturbations: BatchedPerturbationConfig | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        kind = "cond"
        if perturbations is not None:
            config = perturbations.perturbations[0]
            if config.is_perturbed(PerturbationType.SKIP_A2V_CROSS_ATTN, 0):
                kind = "isolated"
            elif config.is_perturbed(PerturbationType.SKIP_VIDEO_SELF_ATTN, 1) or config.is_perturbed(
                PerturbationType.SKIP_AUDIO_SELF_ATTN, 1
            ):
                kind = "perturbed"
        elif video.context is NEGATIVE:  # type: ignore[attr-defined]
            kind = "negative"
        self.passes.append(kind)
        value = {"cond": 2.0, "negative": 1.0, "perturbed": 1.5, "isolated": 1.75}[kind]
        shape = video.latent.shape  # type: ignore[attr-defined]
        out = torch.full(shape, value)
        out[..., 0] += value * torch.arange(shape[1], dtype=out.dtype)  # each pass spreads differently
        return out, out.clone()


def state() -> LatentState:
    latent = torch.zeros(1, 4, 8)
    return LatentState(
        latent=latent,
        denoise_mask=torch.ones(1, 4, 1),
        positions=torch.zeros(1, 1, 4, 2),
        clean_latent=latent,
    )


def guided(transformer: ScriptedTransformer, **video: object) -> GuidedDenoiser:
    params = MultiModalGuiderParams(**{"stg_blocks": [1], **video})
    plain = MultiModalGuiderParams()
    return GuidedDenoiser(
        transformer,
        MultiModalGuider(params, NEGATIVE),
        MultiModalGuider(plain, NEGATIVE),
        POSITIVE,
        POSITIVE,
    )


SIGMAS = torch.tensor([1.0, 0.5, 0.0])


@pytest.mark.parametrize(
    ("scales", "passes"),
    [
        ({}, ["cond"]),
        ({"cfg_scale": 3.0}, ["cond", "negative"]),
        ({"stg_scale": 1.0}, ["cond", "perturbed"]),
        ({"modality_scale": 3.0}, ["cond", "isolated"]),
        (
            {"cfg_scale": 3.0, "stg_scale": 1.0, "modality_scale": 3.0},
            ["cond", "negative", "perturbed", "isolated"],
        ),
    ],
)
def test_each_scale_asks_for_its_own_pass(scales: dict[str, float], passes: list[str]) -> None:
    transformer = ScriptedTransformer()
    guided(transformer, **scales)(state(), state(), SIGMAS, 0)
    assert transformer.passes == passes


def test_guidance_arithmetic() -> None:
    video, _ = guided(ScriptedTransformer(), cfg_scale=3.0, stg_scale=1.0, modality_scale=3.0)(
        state(), state(), SIGMAS, 0
    )
    # cond + (cfg-1)(cond-neg) + stg(cond-ptb) + (mod-1)(cond-iso) off the spread: 2 + 2*1 + 0.5 + 2*0.25
    assert video[0, 0, 1].item() == pytest.approx(5.0)


def test_rescale_pulls_the_spread_back_to_the_conditioned_prediction() -> None:
    plain, _ = guided(ScriptedTransformer(), cfg_scale=3.0)(state(), state(), SIGMAS, 0)
    rescaled, _ = guided(ScriptedTransformer(), cfg_scale=3.0, rescale_scale=1.0)(state(), state(), SIGMAS, 0)
    cond, _ = ScriptedTransformer()(
        type("M", (), {"latent": torch.zeros(1, 4, 8), "context": POSITIVE})(), None, None
    )
    assert not torch.equal(plain, rescaled)
    assert rescaled.std().item() == pytest.approx(cond.std().item(), rel=1e-5)


def test_a_step_skipped_by_both_modalities_costs_no_pass() -> None:
    transformer = ScriptedTransformer()
    both = MultiModalGuiderParams(cfg_scale=3.0, skip_step=1)
    denoiser = GuidedDenoiser(
        transformer,
        MultiModalGuider(both, NEGATIVE),
        MultiModalGuider(both, NEGATIVE),
        POSITIVE,
        POSITIVE,
    )
    first = denoiser(state(), state(), SIGMAS, 0)
    count = len(transformer.passes)
    assert denoiser(state(), state(), SIGMAS, 1) == first
    assert len(transformer.passes) == count
    denoiser(state(), state(), SIGMAS, 2)
    assert len(transformer.passes) == 2 * count


def test_the_loop_reports_every_step_and_keeps_held_tokens() -> None:
    reported: list[int] = []
    held = state()
    held = LatentState(
        held.latent, torch.tensor([[[0.0], [1.0], [1.0], [0.0]]]), held.positions, torch.full((1, 4, 8), 7.0)
    )
    video, _ = denoise(
        SIGMAS, held, state(), plain_denoiser(ScriptedTransformer(), POSITIVE, POSITIVE), reported.append
    )
    assert reported == [0, 1, 2]
    assert torch.equal(video.latent[0, 0], torch.full((8,), 7.0)) and torch.equal(
        video.latent[0, 3], torch.full((8,), 7.0)
    )


@dataclass
class CountingDenoiser:
    """Predicts 3.0 everywhere and records the steps it was asked for."""

    steps: list[int] = field(default_factory=list)

    def __call__(
        self, video: LatentState, audio: LatentState, sigmas: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        self.steps.append(step)
        return torch.full_like(video.latent, 3.0), torch.full_like(audio.latent, 3.0)


FIVE_SIGMAS = torch.tensor([1.0, 0.8, 0.5, 0.25, 0.1, 0.0])


def held_state() -> LatentState:
    noisy = torch.randn(1, 4, 8, generator=torch.Generator().manual_seed(3))
    mask = torch.tensor([[[0.0], [1.0], [1.0], [1.0]]])
    return LatentState(noisy, mask, torch.zeros(1, 1, 4, 2), torch.full((1, 4, 8), 7.0))


@pytest.mark.parametrize(("reuse", "asked"), [(0, [0, 1, 2, 3, 4]), (1, [0, 2, 4]), (2, [0, 3]), (9, [0])])
def test_step_reuse_runs_the_model_on_one_step_in_one_plus_reuse(reuse: int, asked: list[int]) -> None:
    denoiser = CountingDenoiser()
    denoise(FIVE_SIGMAS, state(), state(), denoiser, lambda _: None, Stepping(reuse=reuse))
    assert denoiser.steps == asked


def noised(seed: int) -> torch.Tensor:
    video, _ = denoise(
        FIVE_SIGMAS[:3],
        held_state(),
        state(),
        CountingDenoiser(),
        lambda _: None,
        Stepping(noise_injection=True),
        torch.Generator().manual_seed(seed),
    )
    latent: torch.Tensor = video.latent
    return latent


def test_noise_injection_adds_the_seeds_noise_and_keeps_held_tokens() -> None:
    euler, _ = denoise(FIVE_SIGMAS[:3], held_state(), state(), CountingDenoiser(), lambda _: None)
    first, again, other = noised(1), noised(1), noised(2)
    assert torch.equal(first, again)
    assert not torch.equal(first, other) and not torch.equal(first, euler.latent)
    for latent in (first, other):
        assert torch.equal(latent[0, 0], torch.full((8,), 7.0))
    # fresh noise of half the next sigma (0.25) is laid over a move toward the prediction
    assert 0.1 < (first - euler.latent)[0, 1:].std().item() < 0.6


def test_noise_injection_lands_on_the_prediction_at_the_last_step() -> None:
    video, _ = denoise(
        FIVE_SIGMAS,
        held_state(),
        state(),
        CountingDenoiser(),
        lambda _: None,
        Stepping(noise_injection=True),
        torch.Generator().manual_seed(1),
    )
    assert torch.equal(video.latent[0, 1:], torch.full((3, 8), 3.0))
    assert torch.equal(video.latent[0, 0], torch.full((8,), 7.0))


def test_noise_injection_without_a_generator_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="noise generator"):
        denoise(SIGMAS, state(), state(), CountingDenoiser(), lambda _: None, Stepping(noise_injection=True))
