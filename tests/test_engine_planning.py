"""Shape planning, checked exhaustively against the model's rules wherever the space is small."""

import itertools
import math
from dataclasses import replace
from fractions import Fraction

import pytest
from ltx_core.types import AudioLatentShape, VideoPixelShape

from ltxserve.engine import planning
from ltxserve.engine.check import check
from ltxserve.engine.planning import Size
from ltxserve.media import AudioInfo, FrameWindow, ImageInfo, VideoInfo
from ltxserve.media.splice import Edge
from ltxserve.request import (
    AspectRatio,
    Duration,
    ExtendOptions,
    GenerationRequest,
    ImageCondition,
    InvalidRequestError,
    MediaRef,
    Pipeline,
    Resolution,
    RetakeMode,
    RetakeOptions,
    Sampling,
    Task,
)

RATES = [Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(50), Fraction(24000, 1001)]
SOURCE = MediaRef("source.mp4")


def video(frames: int, fps: Fraction = Fraction(24), width: int = 1920, height: int = 1080) -> VideoInfo:
    return VideoInfo("h264", width, height, 0, fps, frames, False, frames / fps)


# --- frames and latents ------------------------------------------------------------------------


def test_model_frame_counts_are_the_smallest_8k_plus_1() -> None:
    for frames in range(1, 700):
        model = planning.model_frames_for(frames)
        assert planning.is_model_frame_count(model) and model >= frames
        assert model - 8 < frames


def test_latent_spans_tile_the_frames() -> None:
    covered: list[int] = []
    for latent in range(64):
        start, stop = planning.latent_span(latent)
        covered.extend(range(start, stop))
    assert covered == list(range(505))
    assert (
        planning.latent_count(505) == 64 and planning.latent_count(1) == 1 and planning.latent_count(9) == 2
    )


def test_latents_touching_matches_the_definition() -> None:
    for start, stop in itertools.combinations(range(98), 2):
        expected = [j for j in range(13) if set(range(*planning.latent_span(j))) & set(range(start, stop))]
        assert list(planning.latents_touching(start, stop)) == expected, (start, stop)


@pytest.mark.parametrize("fps", RATES)
def test_audio_latent_count_agrees_with_ltx_core(fps: Fraction) -> None:
    for frames in range(1, 506):
        shape = AudioLatentShape.from_video_pixel_shape(VideoPixelShape(1, frames, 64, 64, float(fps)))
        assert planning.audio_latent_count(frames, fps) == shape.frames


def test_audio_latents_are_40_ms_shifted_by_10() -> None:
    assert planning.audio_latent_span(0) == (Fraction(0), Fraction(1, 100))
    for latent in range(1, 200):
        start, end = planning.audio_latent_span(latent)
        assert end - start == Fraction(1, 25)
        assert start == planning.audio_latent_span(latent - 1)[1]


def test_audio_latents_touching_matches_the_definition() -> None:
    for start, end in itertools.combinations([Fraction(k, 100) for k in range(0, 60, 3)], 2):
        expected = [
            i
            for i in range(15)
            if planning.audio_latent_span(i)[1] > start and planning.audio_latent_span(i)[0] < end
        ]
        assert list(planning.audio_latents_touching(start, end, 15)) == expected


# --- sizes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resolution", "aspect", "expected"),
    [
        (Resolution.P1080, AspectRatio.LANDSCAPE, Size(1920, 1080)),
        (Resolution.P1080, AspectRatio.PORTRAIT, Size(1080, 1920)),
        (Resolution.P720, AspectRatio.LANDSCAPE, Size(1280, 720)),
        (Resolution.P1440, AspectRatio.LANDSCAPE, Size(2560, 1440)),
        (Resolution.P2160, AspectRatio.LANDSCAPE, Size(3840, 2160)),
        (Resolution.P2160, AspectRatio.PORTRAIT, Size(2160, 3840)),
        (Resolution.P480, AspectRatio.LANDSCAPE, Size(854, 480)),
        (Resolution.P1080, AspectRatio.SQUARE, Size(1080, 1080)),
        (Resolution.P1080, AspectRatio.CLASSIC, Size(1440, 1080)),
        (Resolution.P1080, AspectRatio.CINEMA, Size(2520, 1080)),
    ],
)
def test_resolution_tiers(resolution: Resolution, aspect: AspectRatio, expected: Size) -> None:
    assert planning.output_size(resolution, aspect) == expected


@pytest.mark.parametrize(
    ("pipeline", "model", "stages"),
    [
        (Pipeline.ONE_STAGE, Size(1920, 1088), (Size(1920, 1088),)),
        (Pipeline.TWO_STAGE, Size(1920, 1088), (Size(960, 544), Size(1920, 1088))),
        (Pipeline.DISTILLED, Size(1920, 1088), (Size(960, 544), Size(1920, 1088))),
    ],
)
def test_1080p_is_generated_at_1088_and_cropped(
    pipeline: Pipeline, model: Size, stages: tuple[Size, ...]
) -> None:
    plan = planning.plan_generation(
        GenerationRequest(Task.TEXT_TO_VIDEO, "x", sampling=Sampling(pipeline=pipeline))
    )
    assert plan.output_size == Size(1920, 1080)
    assert plan.clip.size == model and plan.clip.stages == stages


@pytest.mark.parametrize("width", range(64, 1000, 2))
def test_model_sizes_are_strides_and_never_smaller(width: int) -> None:
    for pipeline in Pipeline:
        model = Size(width, 96).rounded_up(planning.size_stride(pipeline))
        stride = planning.size_stride(pipeline)
        assert model.width % stride == 0 and 0 <= model.width - width < stride


# --- generation --------------------------------------------------------------------------------


def generation(**fields: object) -> GenerationRequest:
    return GenerationRequest(Task.TEXT_TO_VIDEO, "a prompt", **fields)  # type: ignore[arg-type]


def test_generation_defaults() -> None:
    plan = planning.plan_generation(generation())
    assert (plan.output_frames, plan.clip.frames, plan.clip.fps) == (121, 121, Fraction(24))
    assert plan.last_frame_index == 120
    assert all(m == 1.0 for m in plan.clip.video_mask + plan.clip.audio_mask)
    assert len(plan.clip.audio_mask) == 126


def test_audio_to_video_holds_all_the_audio_and_generates_all_the_video() -> None:
    request = GenerationRequest(Task.AUDIO_TO_VIDEO, "a prompt", audio=SOURCE)
    plan = planning.plan_request(request)
    assert set(plan.clip.audio_mask) == {0.0} and len(plan.clip.audio_mask) == 126
    assert set(plan.clip.video_mask) == {1.0}


def test_extend_and_retake_need_their_source_to_be_planned() -> None:
    extend = GenerationRequest(
        Task.EXTEND, "", extend=ExtendOptions(SOURCE, Duration.of_seconds(2), Edge.END, None)
    )
    with pytest.raises(ValueError, match="probed source"):
        planning.plan_request(extend)
    plan = planning.plan_request(extend, video(97))
    assert isinstance(plan, planning.ExtendPlan)


@pytest.mark.parametrize(
    ("seconds", "fps", "output", "model"),
    [
        (6, Fraction(24), 144, 145),
        (6, Fraction(25), 150, 153),
        (5, Fraction(30000, 1001), 150, 153),
        (10, Fraction(50), 500, 505),
    ],
)
def test_seconds_become_exact_frame_counts(seconds: int, fps: Fraction, output: int, model: int) -> None:
    plan = planning.plan_generation(generation(duration=Duration.of_seconds(seconds), fps=fps))
    assert (plan.output_frames, plan.clip.frames) == (output, model)


def test_longest_generation_is_504_frames() -> None:
    assert planning.plan_generation(generation(duration=Duration.of_frames(504))).clip.frames == 505
    with pytest.raises(InvalidRequestError, match="longer than the 504") as raised:
        planning.plan_generation(generation(duration=Duration.of_frames(505 + 8)))
    assert raised.value.field == "duration"


def test_explicit_sizes_are_checked() -> None:
    with pytest.raises(InvalidRequestError, match="even") as raised:
        planning.plan_generation(generation(width=641, height=360))
    assert raised.value.field == "width"
    with pytest.raises(InvalidRequestError, match="larger than 3840x2160"):
        planning.plan_generation(generation(width=4096, height=2160))
    assert planning.plan_generation(generation(width=2160, height=3840)).output_size == Size(2160, 3840)


# --- extend ------------------------------------------------------------------------------------


def extend_options(
    seconds: float | Fraction,
    edge: Edge = Edge.END,
    context: Duration | None = None,
    video_strength: float = 1.0,
    audio_strength: float = 1.0,
    one_window: bool = False,
) -> ExtendOptions:
    return ExtendOptions(
        SOURCE,
        Duration.of_seconds(seconds),
        edge=edge,
        context=context,
        video_strength=video_strength,
        audio_strength=audio_strength,
        one_window=one_window,
    )


def one_window(plan: object) -> planning.ExtendPlan:
    assert isinstance(plan, planning.ExtendPlan)
    return plan


def one_pass(plan: object) -> planning.RetakePlan:
    assert isinstance(plan, planning.RetakePlan)
    return plan


@pytest.mark.parametrize("fps", RATES)
@pytest.mark.parametrize("source_frames", [73, 121, 240, 1000])
@pytest.mark.parametrize("seconds", [2, 5, Fraction(37, 4), 20])
@pytest.mark.parametrize("edge", list(Edge))
def test_extend_plans_keep_every_rule(
    fps: Fraction, source_frames: int, seconds: Fraction, edge: Edge
) -> None:
    new = math.floor(seconds * fps + Fraction(1, 2))  # nearest frame, ties up
    options = extend_options(seconds, edge, video_strength=0.75)
    smallest_context = 1 if edge is Edge.END else 8
    if new + smallest_context > 505:  # 20 s at 30 or 50 fps: the new part alone fills the pass
        with pytest.raises(InvalidRequestError, match="no room for context"):
            planning.plan_extend(
                replace(options, one_window=True), video(source_frames, fps), Pipeline.ONE_STAGE
            )
        chained = planning.plan_extend(options, video(source_frames, fps), Pipeline.ONE_STAGE)
        assert isinstance(chained, planning.ChainedExtendPlan) and len(chained.windows) >= 2
        return
    plan = one_window(planning.plan_extend(options, video(source_frames, fps), Pipeline.ONE_STAGE))
    clip = plan.clip
    assert plan.new_frames == new == plan.kept[1] - plan.kept[0]
    assert planning.is_model_frame_count(clip.frames) and clip.frames <= 505
    assert clip.frames == plan.context_frames + plan.new_region[1] - plan.new_region[0]
    assert 1 <= plan.context_frames <= min(Fraction(source_frames), 20 * fps)
    if edge is Edge.END:
        assert plan.context_start + plan.context_frames == source_frames
        assert plan.new_region == (plan.context_frames, clip.frames) and plan.kept[0] == plan.context_frames
        context_frames = set(range(plan.context_frames))
    else:
        assert plan.context_start == 0
        assert plan.new_region[0] == 0 and plan.kept[1] == plan.new_region[1]
        context_frames = set(range(plan.new_region[1], clip.frames))
    # every latent frame is all context (held at 1 - strength) or all new (generated)
    for latent, mask in enumerate(clip.video_mask):
        frames = set(range(*planning.latent_span(latent)))
        assert frames <= context_frames or not frames & context_frames
        assert mask == (0.25 if frames <= context_frames else 1.0)
    # the default context is the most that fits: 8 more frames would break a limit
    bigger = plan.context_frames + 8
    assert bigger > source_frames or bigger + clip.frames - plan.context_frames > 505 or bigger > 20 * fps


def test_extend_audio_mask_covers_the_new_time() -> None:
    plan = one_window(
        planning.plan_extend(extend_options(2, audio_strength=0.5), video(121), Pipeline.ONE_STAGE)
    )
    boundary = Fraction(plan.context_frames, 24)
    for latent, mask in enumerate(plan.clip.audio_mask):
        _, end = planning.audio_latent_span(latent)
        assert mask == (0.5 if end <= boundary else 1.0)


def test_extend_example_from_the_ltx_api() -> None:
    """5 s onto a 10 s 24 fps clip: 120 new frames, the most context that fits is 233 frames (9.7 s)."""
    plan = one_window(planning.plan_extend(extend_options(5), video(240), Pipeline.TWO_STAGE))
    assert (plan.new_frames, plan.context_frames, plan.clip.frames) == (120, 233, 353)
    assert plan.clip.size == Size(1920, 1088) and plan.clip.stages[0] == Size(960, 544)


def test_extend_context_and_duration_are_limited_together_in_one_window() -> None:
    asked = extend_options(15, context=Duration.of_seconds(10), one_window=True)
    with pytest.raises(InvalidRequestError, match="exceed 505 frames") as raised:
        planning.plan_extend(asked, video(1000), Pipeline.ONE_STAGE)
    assert raised.value.field == "extend.context"
    chained = planning.plan_extend(replace(asked, one_window=False), video(1000), Pipeline.ONE_STAGE)
    assert isinstance(chained, planning.ChainedExtendPlan)
    assert [window.context_frames for window in chained.windows] == [233, 233]
    plan = one_window(
        planning.plan_extend(
            extend_options(10, context=Duration.of_seconds(10)), video(1000), Pipeline.ONE_STAGE
        )
    )
    assert plan.clip.frames == 473 and plan.context_frames == 233  # 240 context frames, rounded to 8a+1


def test_extend_context_cannot_exceed_the_source() -> None:
    with pytest.raises(InvalidRequestError, match="the video has 100") as raised:
        planning.plan_extend(
            extend_options(2, context=Duration.of_frames(120)), video(100), Pipeline.ONE_STAGE
        )
    assert raised.value.field == "extend.context"


def test_extend_too_long_to_leave_context_in_one_window() -> None:
    with pytest.raises(InvalidRequestError, match="no room for context") as raised:
        planning.plan_extend(extend_options(22, one_window=True), video(1000), Pipeline.ONE_STAGE)
    assert raised.value.field == "extend.duration"


# --- extends longer than one window ------------------------------------------------------------


@pytest.mark.parametrize("fps", RATES)
@pytest.mark.parametrize("source_frames", [9, 73, 1000])
@pytest.mark.parametrize("seconds", [22, Fraction(97, 3), 60])
@pytest.mark.parametrize("edge", list(Edge))
@pytest.mark.parametrize("window", [505, 49])
def test_a_longer_extend_is_chained_window_by_window(
    fps: Fraction, source_frames: int, seconds: Fraction, edge: Edge, window: int
) -> None:
    new = math.floor(seconds * fps + Fraction(1, 2))
    chaining = planning.Chaining(window=window)
    plan = planning.plan_extend(
        extend_options(seconds, edge), video(source_frames, fps), Pipeline.ONE_STAGE, chaining
    )
    assert isinstance(plan, planning.ChainedExtendPlan) and plan.new_frames == new
    assert sum(w.new_frames for w in plan.windows) == new  # nothing dropped or made twice
    made = 0
    for w in plan.windows:
        clip = w.clip
        assert planning.is_model_frame_count(clip.frames) and clip.frames <= window
        assert w.kept[1] - w.kept[0] == w.new_frames
        assert w.context_frames >= (1 if edge is Edge.END else 8)
        assert w.context_frames <= min(source_frames + made, window // 2, math.floor(5 * fps))
        # the context is what was made so far next to the new part: the end of the video at the end
        assert w.context_start == (source_frames + made - w.context_frames if edge is Edge.END else 0)
        assert w.edge is edge
        made += w.new_frames
    # windows but the last are as long as the context leaves room for (within a latent frame)
    longest = max(w.new_frames for w in plan.windows)
    assert all(w.new_frames == longest for w in plan.windows[:-1])
    assert len(plan.windows) == -(-new // (window - plan.windows[-1].context_frames)) or source_frames < 121


def test_the_longest_extend_is_the_servers_setting() -> None:
    asked = extend_options(60)
    assert isinstance(planning.plan_extend(asked, video(240), Pipeline.ONE_STAGE), planning.ChainedExtendPlan)
    too_long = GenerationRequest(Task.EXTEND, "", extend=extend_options(Fraction(6001, 100)))
    with pytest.raises(InvalidRequestError, match="at most 60 s") as raised:
        planning.plan_request(too_long, video(240))
    assert raised.value.field == "extend.duration"
    longer = planning.Chaining(longest=Fraction(120))
    plan = planning.plan_extend(extend_options(120), video(240), Pipeline.ONE_STAGE, longer)
    assert isinstance(plan, planning.ChainedExtendPlan) and plan.new_frames == 2880
    # in frames, the length is known once the source's rate is
    frames = replace(too_long, extend=replace(asked, duration=Duration.of_frames(60 * 30 + 1)))
    with pytest.raises(InvalidRequestError, match="at most 60 s"):
        planning.plan_request(frames, video(240, Fraction(30)))
    # at submit: in seconds at once, against the server's setting; a provider's one window by its own rule
    request = GenerationRequest(Task.EXTEND, "", extend=extend_options(90))
    with pytest.raises(InvalidRequestError, match="at most 60 s"):
        check(request, None)
    check(request, None, longer)
    check(replace(request, extend=extend_options(90, one_window=True)), None)


def test_a_chained_extend_takes_the_context_asked_or_refuses_more_than_half_a_window() -> None:
    asked = extend_options(30, context=Duration.of_seconds(2))
    plan = planning.plan_extend(asked, video(240), Pipeline.ONE_STAGE)
    assert isinstance(plan, planning.ChainedExtendPlan)
    assert {w.context_frames for w in plan.windows} == {41}  # 48 frames at 24 fps, as 8a+1
    with pytest.raises(InvalidRequestError, match="at most 24 frames of context") as raised:
        planning.plan_extend(asked, video(240), Pipeline.ONE_STAGE, planning.Chaining(window=49))
    assert raised.value.field == "extend.context"


def test_a_chained_extend_is_described() -> None:
    plan = planning.plan_extend(extend_options(30), video(240), Pipeline.ONE_STAGE)
    notes = planning.decisions(plan)
    assert notes["windows"] == 2 and notes["window_new_frames"] == [360, 360] and notes["new_frames"] == 720
    assert notes["context_frames"] == 113 and notes["model_frames"] == 113 + 360


# --- retake ------------------------------------------------------------------------------------


def retake(
    start: Fraction, duration: Fraction, mode: RetakeMode = RetakeMode.REPLACE_AUDIO_AND_VIDEO
) -> RetakeOptions:
    return RetakeOptions(SOURCE, Fraction(start), Fraction(duration), mode)


def test_retake_snaps_outward_to_whole_latent_frames() -> None:
    plan = one_pass(planning.plan_retake(retake(Fraction(2), Fraction(2)), video(121), Pipeline.ONE_STAGE))
    assert plan.window == FrameWindow(41, 97)  # frames 48..95 asked; latents hold 41..48 and 89..96
    assert plan.audio_window == (Fraction(197, 100), Fraction(401, 100))  # 2.0-4.0 s on the 40 ms grid
    assert plan.clip.frames == 121 and plan.clip_start == 0


@pytest.mark.parametrize("fps", RATES)
@pytest.mark.parametrize("mode", list(RetakeMode))
def test_retake_windows_contain_the_request_and_sit_on_latent_boundaries(
    fps: Fraction, mode: RetakeMode
) -> None:
    source = video(300, fps)
    for start_frame in range(0, 250, 7):
        start, duration = start_frame / fps, Fraction(2) + Fraction(start_frame % 5, 10)
        if start + duration > source.duration:
            continue
        plan = one_pass(planning.plan_retake(retake(start, duration, mode), source, Pipeline.ONE_STAGE))
        end = start + duration
        if mode.video:
            assert plan.window is not None
            assert plan.window.start / fps <= start and (
                plan.window.stop / fps >= end or plan.window.stop == 300
            )
            relative = plan.window.start - plan.clip_start
            assert relative == 0 or relative % 8 == 1
            assert plan.clip.video_mask.count(1.0) == len(
                planning.latents_touching(relative, plan.window.stop - plan.clip_start)
            )
        else:
            assert plan.window is None and set(plan.clip.video_mask) == {0.0}
        if mode.audio:
            assert plan.audio_window is not None
            assert plan.audio_window[0] <= start and plan.audio_window[1] >= min(end, source.duration)
            assert plan.audio_window[0] > start - Fraction(1, 25) and plan.audio_window[1] < end + Fraction(
                1, 25
            )
            assert (plan.audio_window[0] * 100) % 4 in (0, 1)
        else:
            assert plan.audio_window is None and set(plan.clip.audio_mask) == {0.0}


def test_retake_of_a_long_video_takes_a_balanced_context_window() -> None:
    plan = one_pass(planning.plan_retake(retake(Fraction(40), Fraction(3)), video(2000), Pipeline.ONE_STAGE))
    assert plan.window == FrameWindow(960, 1032)
    assert plan.clip.frames == 505 and plan.clip_start == 743
    before, after = plan.window.start - plan.clip_start, plan.clip_start + plan.clip.frames - plan.window.stop
    assert abs(before - after) <= 8


def test_retake_near_the_end_of_a_long_video_puts_the_context_before() -> None:
    source = video(2000)
    plan = one_pass(
        planning.plan_retake(retake(Fraction(1990, 24), Fraction(2, 5)), source, Pipeline.ONE_STAGE)
    )
    assert plan.window is not None and plan.window.stop == 2000
    assert plan.clip_start + plan.clip.frames - 2000 < 8  # no latent lies wholly past the end
    assert plan.source_frames_in_clip == 2000 - plan.clip_start


def test_retake_window_must_be_inside_the_video() -> None:
    with pytest.raises(InvalidRequestError, match="after the video's end") as raised:
        one_pass(planning.plan_retake(retake(Fraction(4), Fraction(2)), video(121), Pipeline.ONE_STAGE))
    assert raised.value.field == "retake.duration"
    with pytest.raises(InvalidRequestError, match="not inside") as raised:
        one_pass(planning.plan_retake(retake(Fraction(6), Fraction(1)), video(121), Pipeline.ONE_STAGE))
    assert raised.value.field == "retake.start"


def test_a_clamped_retake_window_is_cut_at_the_videos_end() -> None:
    clamped = replace(retake(Fraction(4), Fraction(2)), clamp=True)
    plan = one_pass(planning.plan_retake(clamped, video(121), Pipeline.ONE_STAGE))
    assert (
        plan.window is not None
        and plan.window.stop == 121
        and plan.requested == (Fraction(4), Fraction(121, 24))
    )


def test_a_providers_retake_longer_than_one_pass_is_refused() -> None:
    longer = replace(retake(Fraction(10), Fraction(30)), one_window=True)
    with pytest.raises(InvalidRequestError, match="at most 504 frames") as raised:
        planning.plan_retake(longer, video(2000), Pipeline.ONE_STAGE)
    assert raised.value.field == "retake.duration"


@pytest.mark.parametrize("fps", RATES)
@pytest.mark.parametrize("mode", list(RetakeMode))
@pytest.mark.parametrize("window", [505, 49])
@pytest.mark.parametrize(("start", "duration"), [(0, 30), (Fraction(37, 10), 25), (10, 50), (45, 25)])
def test_a_retake_longer_than_one_pass_is_regenerated_piece_by_piece(
    fps: Fraction, mode: RetakeMode, window: int, start: Fraction, duration: Fraction
) -> None:
    source = video(4000, fps)
    asked = retake(Fraction(start), Fraction(duration), mode)
    plan = planning.plan_retake(asked, source, Pipeline.ONE_STAGE, planning.Chaining(window=window))
    assert isinstance(plan, planning.ChainedRetakePlan) and len(plan.pieces) >= 2
    end = min(Fraction(start + duration), source.duration)
    for piece in plan.pieces:
        assert planning.is_model_frame_count(piece.clip.frames) and piece.clip.frames <= window
    if mode.video:
        windows = [piece.window for piece in plan.pieces]
        assert all(w is not None for w in windows)
        first, last = windows[0], windows[-1]
        assert first is not None and last is not None and plan.window == FrameWindow(first.start, last.stop)
        assert plan.window.start / fps <= start and (
            plan.window.stop / fps >= end or plan.window.stop == 4000
        )
        for a, b in itertools.pairwise(windows):  # the pieces tile the window: no frame twice or never
            assert a is not None and b is not None and a.stop == b.start
        for piece in plan.pieces:
            assert piece.window is not None
            relative = piece.window.start - piece.clip_start
            assert relative == 0 or relative % 8 == 1  # on a latent boundary of its own clip
            assert piece.clip.video_mask.count(1.0) == len(
                planning.latents_touching(relative, piece.window.stop - piece.clip_start)
            )
    else:
        assert plan.window is None
    if mode.audio:
        audio = [piece.audio_window for piece in plan.pieces]
        assert plan.audio_window is not None and plan.audio_window[0] <= start <= end <= plan.audio_window[1]
        for earlier, later in itertools.pairwise(audio):  # each piece's sound reaches the next's: no gap
            assert earlier is not None and later is not None
            assert later[0] <= earlier[1] < later[0] + Fraction(2, 25)
    else:
        assert plan.audio_window is None


def test_the_longest_retake_is_the_servers_setting() -> None:
    asked = GenerationRequest(Task.RETAKE, "", retake=retake(Fraction(1), Fraction(61)))
    with pytest.raises(InvalidRequestError, match="at most 60 s") as raised:
        planning.plan_request(asked, video(2000))
    assert raised.value.field == "retake.duration"
    with pytest.raises(InvalidRequestError, match="at most 60 s"):
        check(asked, None)
    longer = planning.Chaining(longest=Fraction(70))
    assert isinstance(planning.plan_request(asked, video(2000), longer), planning.ChainedRetakePlan)


@pytest.mark.parametrize(
    ("image", "size"), [((512, 512), (768, 768)), ((1920, 1080), (1024, 576)), ((1080, 1920), (576, 1024))]
)
def test_a_request_sized_after_its_image_takes_its_shape_at_the_area_asked(
    image: tuple[int, int], size: tuple[int, int]
) -> None:
    first = ImageCondition(MediaRef("https://example.com/a.png"))
    request = GenerationRequest(Task.IMAGE_TO_VIDEO, "x", first_frame=first, image_area=1024 * 576)
    with pytest.raises(ValueError, match="planned once that is read"):
        planning.plan_generation(request)
    check(request, None)  # nothing to plan before the image is read
    sized = planning.sized_to_image(request, ImageInfo("png", *image))
    assert (sized.width, sized.height, sized.image_area) == (*size, None)
    plan = planning.plan_generation(sized)
    assert (plan.output_size.width, plan.output_size.height) == size


def test_image_area_needs_an_image_and_no_other_size() -> None:
    with pytest.raises(InvalidRequestError, match="give a first or last frame") as error:
        GenerationRequest(Task.TEXT_TO_VIDEO, "x", image_area=1000)
    assert error.value.field == "image_area"
    first = ImageCondition(MediaRef("https://example.com/a.png"))
    with pytest.raises(InvalidRequestError, match="not both"):
        GenerationRequest(Task.IMAGE_TO_VIDEO, "x", first_frame=first, image_area=1000, width=64, height=64)


def test_an_audio_to_video_request_can_last_as_long_as_its_audio() -> None:
    audio = MediaRef("https://example.com/a.wav")
    request = GenerationRequest(Task.AUDIO_TO_VIDEO, "x", audio=audio, fps=Fraction(24), match_audio=True)
    with pytest.raises(ValueError, match="planned once that is read"):
        planning.plan_generation(request)
    check(request, None)
    timed = planning.timed_to_audio(request, AudioInfo("pcm_s16le", 48_000, 2, Fraction(5, 2)))
    assert timed.duration == Duration.of_seconds(Fraction(5, 2)) and not timed.match_audio
    assert planning.plan_generation(timed).output_frames == 60
    with pytest.raises(InvalidRequestError) as error:
        GenerationRequest(
            Task.AUDIO_TO_VIDEO, "x", audio=audio, match_audio=True, duration=Duration.of_frames(9)
        )
    assert error.value.field == "match_audio"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"fps": Fraction(0)}, "extend.fps"),
        ({"size": (256, 145)}, "extend.size"),
        ({"size": (0, 144)}, "extend.size"),
    ],
)
def test_an_extension_at_another_rate_or_size_needs_a_real_one(
    changes: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        GenerationRequest(
            Task.EXTEND,
            "x",
            extend=ExtendOptions(MediaRef("v.mp4"), Duration.of_frames(9), **changes),  # type: ignore[arg-type]
        )
    assert refused.value.field == field


@pytest.mark.parametrize(
    ("image", "size"),
    [((600, 800), (1080, 1920)), ((4000, 3000), (1920, 1080)), ((1000, 1001), (1080, 1920))],
)
def test_an_image_sized_request_can_snap_to_the_shapes_a_product_makes(
    image: tuple[int, int], size: tuple[int, int]
) -> None:
    first = ImageCondition(MediaRef("https://example.com/a.png"))
    shapes = (AspectRatio.LANDSCAPE, AspectRatio.PORTRAIT)
    request = GenerationRequest(
        Task.IMAGE_TO_VIDEO, "x", first_frame=first, image_area=1920 * 1080, image_aspects=shapes
    )
    sized = planning.sized_to_image(request, ImageInfo("png", *image))
    assert (sized.width, sized.height, sized.image_aspects) == (*size, ())
    with pytest.raises(InvalidRequestError) as error:
        GenerationRequest(Task.TEXT_TO_VIDEO, "x", image_aspects=shapes)
    assert error.value.field == "image_aspects"


def test_an_audio_length_rule_is_checked_once_the_audio_is_read() -> None:
    audio = MediaRef("https://example.com/a.wav")
    bounds = (Fraction(2), Fraction(20))
    request = GenerationRequest(Task.AUDIO_TO_VIDEO, "x", audio=audio, match_audio=True, audio_seconds=bounds)
    for seconds in (Fraction(2), Fraction(20)):
        timed = planning.timed_to_audio(request, AudioInfo("aac", 48_000, 2, seconds))
        assert timed.duration == Duration.of_seconds(seconds) and timed.audio_seconds is None
    for seconds in (Fraction(199, 100), Fraction(2001, 100)):
        with pytest.raises(InvalidRequestError, match="must last 2-20 s") as error:
            planning.timed_to_audio(request, AudioInfo("aac", 48_000, 2, seconds))
        assert error.value.field == "audio"
    with pytest.raises(InvalidRequestError) as refused:
        GenerationRequest(
            Task.AUDIO_TO_VIDEO, "x", audio=audio, duration=Duration.of_frames(9), audio_seconds=bounds
        )
    assert refused.value.field == "audio_seconds"


@pytest.mark.parametrize("strength", [1.0, 0.25, 0.0])
def test_audio_to_video_holds_its_audio_as_firmly_as_its_strength(strength: float) -> None:
    audio = MediaRef("https://example.com/a.wav")
    request = GenerationRequest(
        Task.AUDIO_TO_VIDEO, "x", audio=audio, duration=Duration.of_frames(25), audio_strength=strength
    )
    mask = planning.plan_generation(request).clip.audio_mask
    assert mask is not None and set(mask) == {1.0 - strength}
    with pytest.raises(InvalidRequestError) as refused:
        GenerationRequest(Task.TEXT_TO_VIDEO, "x", audio_strength=0.5)
    assert refused.value.field == "audio_strength"


def test_the_seconds_a_request_makes_anew_are_known_at_submit_unless_its_inputs_tell_them() -> None:
    def made(duration: Duration, fps: Fraction | None = None) -> GenerationRequest:
        return GenerationRequest(task=Task.TEXT_TO_VIDEO, prompt="x", duration=duration, fps=fps)

    cases = {
        "a generation's duration": (made(Duration.of_seconds("6.5")), Fraction(13, 2)),
        "its frames at its rate": (made(Duration.of_frames(97), fps=Fraction(48)), Fraction(97, 48)),
        "the default length": (GenerationRequest(task=Task.TEXT_TO_VIDEO, prompt="x"), Fraction(121, 24)),
        "an extend's new part": (
            GenerationRequest(task=Task.EXTEND, extend=ExtendOptions(SOURCE, Duration.of_seconds(3))),
            Fraction(3),
        ),
        "a retake's window": (
            GenerationRequest(task=Task.RETAKE, retake=RetakeOptions(SOURCE, Fraction(1), Fraction(5, 2))),
            Fraction(5, 2),
        ),
    }
    for name, (request, seconds) in cases.items():
        assert planning.new_seconds(request) == seconds, name
        assert planning.new_seconds(request, video(999, Fraction(30))) == seconds, f"{name}: whatever it made"
    by_source_rate = GenerationRequest(task=Task.EXTEND, extend=ExtendOptions(SOURCE, Duration.of_frames(48)))
    assert planning.new_seconds(by_source_rate) is None, "frames at a rate only the source tells"
    assert planning.new_seconds(by_source_rate, video(150, Fraction(30000, 1001))) == Fraction(
        48 * 1001, 30000
    )
    timed_by_audio = GenerationRequest(
        task=Task.AUDIO_TO_VIDEO, audio=MediaRef("upload://a"), match_audio=True
    )
    assert planning.new_seconds(timed_by_audio) is None
    assert planning.new_seconds(timed_by_audio, video(100, Fraction(25))) == 4
