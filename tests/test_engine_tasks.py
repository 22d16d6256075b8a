"""Every task end to end through render (probe → plan → engine → media) on the tiny weights.

The weights are random, so what is generated is noise; what is checked is everything around it:
frame counts, where the source's own frames and sound are kept (read back from the frame numbers
and beeps the source carries), sync, durations, and that every input really reaches the model."""

from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ltxserve import media
from ltxserve.engine.engine import Engine, EngineInputs
from ltxserve.media.splice import Edge
from ltxserve.media.testsrc import synthetic_clip
from ltxserve.render import Rendered, render
from ltxserve.request import (
    Duration,
    ExtendOptions,
    GenerationRequest,
    ImageCondition,
    InvalidRequestError,
    LoraChoice,
    MediaRef,
    Pipeline,
    RetakeMode,
    RetakeOptions,
    Sampling,
    Task,
)
from tests.engine_support import FAST, FPS, frames_of, text_request, write_source
from tests.measure import Playback, match_onsets, play
from tests.mediafiles import write_audio, write_image

SYNC_MS = 1.0


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_source(tmp_path_factory.mktemp("src") / "source.mp4", frames=49)


@pytest.fixture(scope="module")
def long_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_source(tmp_path_factory.mktemp("src") / "long.mp4", frames=73)


def beeps_before(out: Playback, seconds: float) -> list[float]:
    return [t for t in out.onsets() if t < seconds - 0.002]


def assert_av_durations_agree(out: Playback) -> None:
    assert abs(float(out.audio_end - out.video_end)) * 1000 <= SYNC_MS


# --- text, image and audio to video ------------------------------------------------------------


def test_text_to_video_is_exact_in_size_length_and_audio(engine: Engine, tmp_path: Path) -> None:
    request = text_request(width=96, height=64, duration=Duration.of_seconds(Fraction(1, 2)))
    result = render(engine, request, tmp_path / "t2v.mp4")
    video, audio = result.info.video, result.info.audio
    assert video is not None and audio is not None
    assert (video.width, video.height, video.frame_count, video.fps) == (96, 64, 12, FPS)
    assert audio.sample_rate == 48_000 and abs(float(audio.duration - video.duration)) <= 0.001
    assert result.demo and result.plan.clip.frames == 17  # 12 frames asked, 17 generated, 12 kept


def test_1080p_is_generated_at_1088_and_cropped(engine: Engine, tmp_path: Path) -> None:
    """Sizes that are not multiples of 32 come out exactly as asked (here 80x40 from 96x64)."""
    result = render(engine, text_request(width=80, height=40), tmp_path / "odd.mp4")
    assert result.info.video is not None and (result.info.video.width, result.info.video.height) == (80, 40)
    assert result.notes["model_size"] == "96x64"


def test_same_seed_same_video_other_seed_other_video(engine: Engine) -> None:
    first, again = frames_of(engine, text_request(seed=5)), frames_of(engine, text_request(seed=5))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, frames_of(engine, text_request(seed=6)))


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(3)
    red = np.zeros((80, 120, 3), np.uint8)
    red[..., 0] = 220
    noise = rng.integers(0, 256, (90, 90, 3), dtype=np.uint8)
    return write_image(folder / "red.png", red, "png", "image2"), write_image(
        folder / "noise.png", noise, "png", "image2"
    )


def image_request(first: Path | None, last: Path | None, strength: float = 1.0) -> GenerationRequest:
    return text_request(
        task=Task.IMAGE_TO_VIDEO,
        first_frame=ImageCondition(MediaRef.file(first), strength) if first else None,
        last_frame=ImageCondition(MediaRef.file(last), strength) if last else None,
    )


def inputs_for(first: Path | None, last: Path | None) -> EngineInputs:
    return EngineInputs(
        first_image=media.read_image(first) if first else None,
        last_image=media.read_image(last) if last else None,
    )


@pytest.mark.parametrize("which", ["first", "last", "both"])
def test_images_reach_the_model(engine: Engine, images: tuple[Path, Path], which: str) -> None:
    red, noise = images
    first, last = (red if which != "last" else None), (noise if which != "first" else None)
    plain = frames_of(engine, text_request())
    conditioned = frames_of(engine, image_request(first, last), inputs_for(first, last))
    swapped = (
        frames_of(engine, image_request(last, first), inputs_for(last, first)) if which == "both" else None
    )
    assert not np.array_equal(plain, conditioned)
    if swapped is not None:
        assert not np.array_equal(conditioned, swapped)


def test_first_frame_at_strength_zero_is_text_to_video(engine: Engine, images: tuple[Path, Path]) -> None:
    """Strength 0 leaves the first latent fully to the noise: exactly the text-to-video result."""
    red, _ = images
    assert np.array_equal(
        frames_of(engine, image_request(red, None, strength=0.0), inputs_for(red, None)),
        frames_of(engine, text_request()),
    )


def test_image_to_video_through_render(engine: Engine, images: tuple[Path, Path], tmp_path: Path) -> None:
    red, noise = images
    request = replace(image_request(red, noise), output=media.EncodeOptions(format=media.OutputFormat.WEBM))
    result = render(engine, request, tmp_path / "i2v.webm")
    assert (
        result.info.container == "webm"
        and result.info.video is not None
        and result.info.video.frame_count == 9
    )


def test_audio_to_video_keeps_the_given_audio(engine: Engine, tmp_path: Path) -> None:
    beeps = synthetic_clip(96, 64, 24, FPS, beep_every=12).audio  # beeps at 0 and 0.5 s
    assert beeps is not None
    audio_only = write_audio(tmp_path / "sound.m4a", beeps.samples, 48_000, "aac", "ipod")
    request = text_request(
        task=Task.AUDIO_TO_VIDEO, audio=MediaRef.file(audio_only), duration=Duration.of_frames(24), width=96
    )
    out = play(render(engine, request, tmp_path / "a2v.mp4").output)
    assert len(out.codes) == 24
    offsets = match_onsets(out.onsets(), [0.0, 0.5])
    assert max(map(abs, offsets)) <= SYNC_MS
    assert_av_durations_agree(out)


def test_audio_to_video_holds_the_audio_in_the_model(engine: Engine, tmp_path: Path) -> None:
    """The audio conditions the picture: other audio, other video (same seed and prompt)."""
    rng = np.random.default_rng(0)
    loud = (rng.standard_normal((2, 16_000)) * 0.3).astype(np.float32)
    request = text_request(task=Task.AUDIO_TO_VIDEO, audio=MediaRef.file(tmp_path / "unused.wav"))
    silent = frames_of(engine, request, EngineInputs(audio=np.zeros((2, 16_000), np.float32)))
    noisy = frames_of(engine, request, EngineInputs(audio=loud))
    assert not np.array_equal(silent, noisy)


# --- extend ------------------------------------------------------------------------------------


def extend_request(
    source: Path, seconds: float = 1.0, edge: Edge = Edge.END, **options: Any
) -> GenerationRequest:
    extend = ExtendOptions(MediaRef.file(source), Duration.of_seconds(Fraction(str(seconds))), edge=edge)
    return GenerationRequest(
        Task.EXTEND,
        "the cat keeps walking",
        seed=2,
        extend=replace(extend, **options),
        sampling=FAST,
    )


def test_extend_at_the_end(engine: Engine, source: Path, tmp_path: Path) -> None:
    result = render(engine, extend_request(source), tmp_path / "end.mp4")
    out = play(result.output)
    assert len(out.codes) == 49 + 24
    assert out.codes[:49] == list(range(49))  # the source's own frames, untouched
    source_beeps = [f / 24 for f in range(0, 49, 12)]
    offsets = match_onsets(beeps_before(out, 49 / 24), source_beeps)
    assert max(map(abs, offsets)) <= SYNC_MS  # the source's own audio, in sync
    assert_av_durations_agree(out)
    assert out.audio is not None
    new_part = out.audio[round(49 / 24 * 48_000) :]
    assert np.abs(new_part).max() > 0  # audio was generated for the new part


def test_extend_at_the_start(engine: Engine, source: Path, tmp_path: Path) -> None:
    result = render(engine, extend_request(source, edge=Edge.START), tmp_path / "start.mp4")
    out = play(result.output)
    assert len(out.codes) == 24 + 49
    assert out.codes[24:] == list(range(49))  # the new part comes first
    beeps = [t for t in out.onsets() if t > 1.0 - 0.002]
    offsets = match_onsets(beeps, [1.0 + f / 24 for f in range(0, 49, 12)])
    assert max(map(abs, offsets)) <= SYNC_MS
    assert_av_durations_agree(out)


@pytest.mark.parametrize("pipeline", [Pipeline.TWO_STAGE, Pipeline.DISTILLED])
def test_extend_with_two_stage_pipelines(
    engine: Engine, source: Path, tmp_path: Path, pipeline: Pipeline
) -> None:
    request = replace(
        extend_request(source, 0.5),
        sampling=Sampling(pipeline=pipeline, steps=None if pipeline is Pipeline.DISTILLED else 2),
    )
    result = render(engine, request, tmp_path / "two.mp4")
    out = play(result.output)
    assert out.codes[:49] == list(range(49)) and len(out.codes) == 49 + 12
    assert result.notes["model_size"] == "192x128"


def test_extend_a_silent_video_stays_silent(engine: Engine, tmp_path: Path) -> None:
    silent = write_source(tmp_path / "silent.mp4", frames=25, audio=False)
    result = render(engine, extend_request(silent, 0.5), tmp_path / "out.mp4")
    assert result.info.audio is None and result.info.video is not None and result.info.video.frame_count == 37


def test_extend_without_generated_audio_keeps_the_source_audio_and_adds_silence(
    engine: Engine, source: Path, tmp_path: Path
) -> None:
    request = replace(extend_request(source), generate_audio=False)
    out = play(render(engine, request, tmp_path / "out.mp4").output)
    assert out.audio is not None
    after_the_seam = out.audio[round((49 / 24 + 0.05) * 48_000) :]  # past the AAC ringing of the last beep
    assert np.abs(after_the_seam).max() < 1e-3
    assert len(beeps_before(out, 49 / 24)) == 5


def test_extend_strengths_and_end_image_reach_the_model(
    engine: Engine, source: Path, images: tuple[Path, Path], tmp_path: Path
) -> None:
    red, _ = images

    def new_frames(request: GenerationRequest) -> np.ndarray:
        rendered: Rendered = render(engine, request, tmp_path / "x.mp4")
        return media.read_frames(rendered.output, 49, 73)

    base = new_frames(extend_request(source))
    assert not np.array_equal(base, new_frames(extend_request(source, video_strength=0.5)))
    assert not np.array_equal(base, new_frames(extend_request(source, audio_strength=0.3)))
    assert not np.array_equal(
        base, new_frames(extend_request(source, end_image=ImageCondition(MediaRef.file(red))))
    )


def test_extend_context_is_reported(engine: Engine, source: Path, tmp_path: Path) -> None:
    request = extend_request(source, context=Duration.of_seconds(1))
    result = render(engine, request, tmp_path / "out.mp4")
    assert result.notes["context_frames"] == 17 and result.notes["new_frames"] == 24


# --- retake ------------------------------------------------------------------------------------


def retake_request(
    source: Path, mode: RetakeMode, pipeline: Pipeline = Pipeline.ONE_STAGE
) -> GenerationRequest:
    sampling = Sampling(pipeline=pipeline, steps=None if pipeline is Pipeline.DISTILLED else 2)
    return GenerationRequest(
        Task.RETAKE,
        "a dog runs past",
        seed=3,
        retake=RetakeOptions(MediaRef.file(source), Fraction(1), Fraction(1), mode),
        sampling=sampling,
    )


@pytest.mark.parametrize("mode", list(RetakeMode))
def test_retake_keeps_everything_outside_the_window(
    engine: Engine, long_source: Path, tmp_path: Path, mode: RetakeMode
) -> None:
    result = render(engine, retake_request(long_source, mode), tmp_path / "retake.mp4")
    out = play(result.output)
    assert len(out.codes) == 73
    assert_av_durations_agree(out)
    window = result.notes.get("video_window_frames", [0, 0])
    assert isinstance(window, list)
    if mode.video:
        assert window == [17, 49]  # 1-2 s asked (frames 24-47), snapped out to whole latent frames
        outside = [i for i in range(73) if not window[0] <= i < window[1]]
        assert [out.codes[i] for i in outside] == outside
        assert sum(out.codes[i] != i for i in range(window[0], window[1])) > 16
    else:
        assert out.codes == list(range(73))
    expected = [f / 24 for f in range(0, 73, 12)]  # the source beeps at 0, 0.5, 1, … s
    audio_window = result.notes.get("audio_window_seconds")
    if mode.audio:
        assert audio_window == [0.97, 2.01]
        kept = [t for t in expected if not 0.97 - 0.041 <= t < 2.01]
        heard = [t for t in out.onsets() if not 0.97 - 0.041 <= t < 2.01 + 0.05]
        assert max(map(abs, match_onsets(heard, kept))) <= SYNC_MS
    else:
        assert audio_window is None
        assert max(map(abs, match_onsets(out.onsets(), expected))) <= SYNC_MS


@pytest.mark.parametrize("pipeline", [Pipeline.TWO_STAGE, Pipeline.DISTILLED])
def test_retake_with_two_stage_pipelines(
    engine: Engine, long_source: Path, tmp_path: Path, pipeline: Pipeline
) -> None:
    result = render(
        engine, retake_request(long_source, RetakeMode.REPLACE_VIDEO, pipeline), tmp_path / "r.mp4"
    )
    out = play(result.output)
    assert out.codes[:17] == list(range(17)) and out.codes[49:] == list(range(49, 73))


def test_retake_of_a_long_video_only_processes_a_window(engine: Engine, tmp_path: Path) -> None:
    long_video = write_source(tmp_path / "minute.mp4", frames=700, width=128, height=64)
    request = GenerationRequest(
        Task.RETAKE,
        "x",
        seed=1,
        retake=RetakeOptions(MediaRef.file(long_video), Fraction(20), Fraction(2), RetakeMode.REPLACE_VIDEO),
        sampling=FAST,
    )
    result = render(engine, request, tmp_path / "out.mp4")
    assert result.notes["model_frames"] == 505
    out = play(result.output)
    window = result.notes["video_window_frames"]
    assert isinstance(window, list)
    assert out.codes[: window[0]] == list(range(window[0])) and len(out.codes) == 700


def test_a_lora_not_yet_fetched_is_refused_by_name_not_probed_as_media(
    engine: Engine, tmp_path: Path
) -> None:
    """Workers fetch LoRAs given by URL before rendering; one that reaches the renderer unfetched is
    the request's error on that LoRA, not a media probe of a URL."""
    request = text_request(loras=(LoraChoice("https://example.com/style.safetensors"),))
    with pytest.raises(InvalidRequestError) as error:
        render(engine, request, tmp_path / "x.mp4")
    assert error.value.field == "loras.0" and "no LoRA named" in error.value.message
