"""Shape planning: every size, frame count, window and denoise mask a request will use, decided
before any model runs. Pure functions of the request and the probed source.

The rules come from the model (research/ltx2-official.md §3.4):
- Video frames come in 8k+1: latent frame 0 holds pixel frame 0 alone, latent j ≥ 1 holds frames
  8j-7 … 8j. Sizes are multiples of 32 (one stage) or 64 (two stages: the first runs at half size).
- Audio latents are 40 ms each, causally shifted: latent i covers [(4i-3)·10 ms, (4i+1)·10 ms),
  clipped at 0, and there are round(frames / fps × 25) of them.
- Positions are seconds, so fps is a real input; it stays a Fraction here.
Sizes the model cannot make exactly (1080 is not a multiple of 32) are generated slightly larger
and cropped back, never scaled: the output is the size that was asked for.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from fractions import Fraction

from ltxserve.media import AudioInfo, FrameWindow, ImageInfo, MediaInfo, VideoInfo
from ltxserve.media.splice import Edge
from ltxserve.request import (
    AspectRatio,
    Duration,
    ExtendOptions,
    GenerationRequest,
    InvalidRequestError,
    Pipeline,
    Resolution,
    RetakeOptions,
    Task,
)

TIME_STRIDE = 8
SPATIAL_STRIDE = 32
MAX_MODEL_FRAMES = 505
"""64 latent frames: the most one pass generates (the LTX API's context + duration cap)."""
MAX_LATENTS = (MAX_MODEL_FRAMES - 1) // TIME_STRIDE + 1
MAX_CONTEXT = Fraction(20)
AUDIO_LATENTS_PER_SECOND = 25
AUDIO_HOP_SECONDS = Fraction(1, 100)
DEFAULT_FPS = Fraction(24)
DEFAULT_FRAMES = 121
MAX_OUTPUT = (3840, 2160)


@dataclass(frozen=True)
class Size:
    width: int
    height: int

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"

    def rounded_up(self, multiple: int) -> "Size":
        return Size(_round_up(self.width, multiple), _round_up(self.height, multiple))

    def halved(self) -> "Size":
        return Size(self.width // 2, self.height // 2)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


# --- frames and latents ------------------------------------------------------------------------


def is_model_frame_count(frames: int) -> bool:
    return frames >= 1 and (frames - 1) % TIME_STRIDE == 0


def model_frames_for(frames: int) -> int:
    """The smallest 8k+1 frame count that holds `frames` frames."""
    return _round_up(max(frames, 1) - 1, TIME_STRIDE) + 1


def latent_count(frames: int) -> int:
    return (frames - 1) // TIME_STRIDE + 1


def latent_span(latent: int) -> tuple[int, int]:
    """Pixel frames [start, stop) that video latent frame `latent` holds."""
    if latent == 0:
        return 0, 1
    return TIME_STRIDE * latent - TIME_STRIDE + 1, TIME_STRIDE * latent + 1


def latents_touching(start: int, stop: int) -> range:
    """Video latent frames holding any of the pixel frames [start, stop)."""
    first = 0 if start == 0 else (start - 1) // TIME_STRIDE + 1
    last = 0 if stop - 1 == 0 else (stop - 2) // TIME_STRIDE + 1
    return range(first, last + 1)


def audio_latent_count(frames: int, fps: Fraction) -> int:
    # The same float expression ltx-core uses (AudioLatentShape.from_duration), so counts agree.
    return round(float(frames) / float(fps) * AUDIO_LATENTS_PER_SECOND)


def audio_latent_span(latent: int) -> tuple[Fraction, Fraction]:
    """Seconds [start, end) that audio latent `latent` covers."""
    start = max(Fraction(0), (4 * latent - 3) * AUDIO_HOP_SECONDS)
    end = max(Fraction(0), (4 * latent + 1) * AUDIO_HOP_SECONDS)
    return start, end


def audio_latents_touching(start: Fraction, end: Fraction, count: int) -> range:
    """Audio latents overlapping the seconds [start, end)."""
    touching = [i for i in range(count) if audio_latent_span(i)[1] > start and audio_latent_span(i)[0] < end]
    return range(touching[0], touching[-1] + 1) if touching else range(0)


# --- sizes -------------------------------------------------------------------------------------


def output_size(resolution: Resolution, aspect: AspectRatio) -> Size:
    """The size a resolution tier means at an aspect ratio: the short side is the tier, the long side
    follows the ratio, both even (1080p at 16:9 is 1920x1080, at 9:16 1080x1920)."""
    short = resolution.short_side
    ratio = aspect.ratio if aspect.ratio >= 1 else 1 / aspect.ratio
    long = 2 * math.floor(short * ratio / 2 + Fraction(1, 2))
    return Size(long, short) if aspect.ratio >= 1 else Size(short, long)


def size_stride(pipeline: Pipeline) -> int:
    return SPATIAL_STRIDE if pipeline is Pipeline.ONE_STAGE else 2 * SPATIAL_STRIDE


def stage_sizes(model: Size, pipeline: Pipeline) -> tuple[Size, ...]:
    """The size each denoising stage runs at, last one full size."""
    return (model,) if pipeline is Pipeline.ONE_STAGE else (model.halved(), model)


# --- plans -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClipPlan:
    """The clip the model denoises."""

    frames: int
    fps: Fraction
    size: Size
    """Model size: the output (or source) size rounded up to the pipeline's stride."""
    stages: tuple[Size, ...]
    video_mask: tuple[float, ...]
    """Denoise strength per video latent frame: 1 generates, 0 keeps the reference."""
    audio_mask: tuple[float, ...]
    """Denoise strength per audio latent."""

    @property
    def latent_frames(self) -> int:
        return latent_count(self.frames)

    @property
    def duration(self) -> Fraction:
        return self.frames / self.fps


@dataclass(frozen=True)
class GenerationPlan:
    clip: ClipPlan
    output_size: Size
    output_frames: int
    last_frame_index: int
    """Clip frame the last-frame image is pinned to: the last frame of the output."""


@dataclass(frozen=True)
class ExtendPlan:
    clip: ClipPlan
    edge: Edge
    new_frames: int
    context_frames: int
    context_start: int
    """First source frame of the context."""
    new_region: tuple[int, int]
    """Clip frames [start, stop) the model generates."""
    kept: tuple[int, int]
    """Clip frames [start, stop) that become the output's new part."""

    @property
    def outer_frame(self) -> int:
        """The new part's outer edge in the clip, where an end image is pinned."""
        return self.kept[1] - 1 if self.edge is Edge.END else self.kept[0]


@dataclass(frozen=True)
class RetakePlan:
    clip: ClipPlan
    clip_start: int
    """Source frame the clip starts at."""
    source_frames_in_clip: int
    """Real source frames in the clip; the rest (to make 8k+1) repeat the last one."""
    window: FrameWindow | None
    """Source frames regenerated, snapped outward to whole latent frames (None: video kept)."""
    audio_window: tuple[Fraction, Fraction] | None
    """Source seconds of audio regenerated: the requested window snapped outward to 40 ms latents
    (None: audio kept)."""
    requested: tuple[Fraction, Fraction]


@dataclass(frozen=True)
class ChainedExtendPlan:
    """An extend longer than one model window, made window by window outward from the source: each
    window extends the source and what the windows before it made (its context is their edge)."""

    edge: Edge
    new_frames: int
    windows: tuple[ExtendPlan, ...]
    """In the order they run; each one's `context_start` counts from the start of the video made so
    far (the source and the windows before it)."""

    @property
    def clip(self) -> ClipPlan:
        """The first window's clip (the largest)."""
        return self.windows[0].clip


@dataclass(frozen=True)
class Chaining:
    """How an edit longer than one model pass is made, and how long one may be (an operator's settings)."""

    window: int = MAX_MODEL_FRAMES
    """The most frames one model pass makes (8k+1): lower on a GPU with less memory."""
    longest: Fraction = Fraction(60)
    """The longest extend (or retake window) one request may ask for, in seconds."""
    context: Fraction = Fraction(5)
    """Seconds a pass sees of what is around what it makes: an extend's window, of what comes before
    it (unless the request says; at most half a window); a retake's piece, on each side (at most a
    quarter window each)."""

    def __post_init__(self) -> None:
        if not is_model_frame_count(self.window) or not 4 * TIME_STRIDE < self.window <= MAX_MODEL_FRAMES:
            raise ValueError(f"a window is 8k+1 frames, 41 to {MAX_MODEL_FRAMES}; got {self.window}")
        if self.longest <= 0 or self.context <= 0:
            raise ValueError("the longest extend and the context are positive seconds")


@dataclass(frozen=True)
class ChainedRetakePlan:
    """A retake window longer than one model pass, regenerated piece by piece from its start: each
    piece sees what the pieces before it made on its left and the source on its right."""

    pieces: tuple[RetakePlan, ...]
    window: FrameWindow | None
    """All the source frames regenerated (None: video kept)."""
    audio_window: tuple[Fraction, Fraction] | None
    """All the source seconds of audio regenerated (None: audio kept)."""
    requested: tuple[Fraction, Fraction]

    @property
    def clip(self) -> ClipPlan:
        """The first piece's clip."""
        return self.pieces[0].clip


OnePass = GenerationPlan | ExtendPlan | RetakePlan
"""What one model pass makes."""
Chained = ChainedExtendPlan | ChainedRetakePlan
"""What passes one after another make."""
Plan = OnePass | Chained


def sized_to_image(request: GenerationRequest, image: ImageInfo) -> GenerationRequest:
    """The request with the size its image decides, when it asks for one (`image_area`): the image's
    aspect ratio at about that many pixels, both sides even."""
    if request.image_area is None:
        return request
    ratio = Fraction(image.width, image.height)
    if request.image_aspects:
        shape = ratio
        ratio = min(
            (aspect.ratio for aspect in request.image_aspects), key=lambda r: abs(math.log(r / shape))
        )
    width = 2 * round(math.sqrt(request.image_area * ratio) / 2)
    height = 2 * round(math.sqrt(request.image_area / ratio) / 2)
    return replace(request, width=width, height=height, image_area=None, image_aspects=())


def timed_to_audio(request: GenerationRequest, audio: AudioInfo) -> GenerationRequest:
    """The request with the length its audio decides, when it asks for that (`match_audio`)."""
    if not request.match_audio:
        return request
    if request.audio_seconds is not None:
        shortest, longest = request.audio_seconds
        if not shortest <= audio.duration <= longest:
            raise InvalidRequestError(
                "audio", f"the audio lasts {float(audio.duration):g} s; it must last {shortest}-{longest} s"
            )
    return replace(
        request, duration=Duration.of_seconds(audio.duration), match_audio=False, audio_seconds=None
    )


def decided_by_inputs(request: GenerationRequest, infos: Mapping[str, MediaInfo]) -> GenerationRequest:
    """The request with what its probed inputs decide: a size after its image (the first frame's,
    else the last's) and a length after its audio, when it asks for them."""
    if request.image_area is not None:
        sizing = infos.get("first_frame.image") or infos["last_frame.image"]
        assert sizing.image is not None, "probed as an image"
        request = sized_to_image(request, sizing.image)
    if request.match_audio:
        audio = infos["audio"].audio
        assert audio is not None, "probed as audio"
        request = timed_to_audio(request, audio)
    return request


def new_seconds(request: GenerationRequest, made: VideoInfo | None = None) -> Fraction | None:
    """Seconds of video the request makes anew (all of a generation, an extend's new part, a retake's
    window): what a key's daily allowance counts. Before it runs (no `made`), None where only its inputs
    tell (a length after its audio, frames at the source's rate); given the video it made, known."""
    if request.match_audio:
        return None if made is None else made.duration
    if request.retake is not None:
        return request.retake.duration
    if request.extend is not None:
        length, fps = request.extend.duration, request.extend.fps or (made.fps if made else None)
    else:
        length, fps = request.duration or Duration.of_frames(DEFAULT_FRAMES), request.fps or DEFAULT_FPS
    if length.seconds is not None:
        return length.seconds
    assert length.frames is not None
    return None if fps is None else Fraction(length.frames) / fps


def plan_request(
    request: GenerationRequest, source: VideoInfo | None = None, chaining: Chaining = Chaining()
) -> Plan:
    """The plan of any task; extend and retake are planned against their probed source video."""
    pipeline = request.sampling.pipeline
    if request.task in (Task.EXTEND, Task.RETAKE):
        check_length(request, chaining, _need(source).fps)
    if request.task is Task.EXTEND:
        assert request.extend is not None
        return plan_extend(request.extend, _need(source), pipeline, chaining)
    if request.task is Task.RETAKE:
        assert request.retake is not None
        return plan_retake(request.retake, _need(source), pipeline, chaining)
    return plan_generation(request)


def _need(source: VideoInfo | None) -> VideoInfo:
    if source is None:
        raise ValueError("extend and retake are planned against the probed source video")
    return source


def plan_generation(request: GenerationRequest) -> GenerationPlan:
    if request.image_area is not None or request.match_audio:
        raise ValueError("a request sized or timed by its media is planned once that is read")
    pipeline = request.sampling.pipeline
    fps = request.fps or DEFAULT_FPS
    if request.width is not None and request.height is not None:
        size = Size(request.width, request.height)
        if size.width <= 0 or size.height <= 0 or size.width % 2 or size.height % 2:
            raise InvalidRequestError("width", f"width and height must be positive and even, got {size}")
    else:
        size = output_size(
            request.resolution or Resolution.P1080, request.aspect_ratio or AspectRatio.LANDSCAPE
        )
    _check_output_size(size, "width" if request.width is not None else "resolution")
    frames = (request.duration or Duration.of_frames(DEFAULT_FRAMES)).frames_at(fps)
    if frames < 1:
        raise InvalidRequestError("duration", f"{request.duration} is less than one frame at {fps} fps")
    model_frames = model_frames_for(frames)
    if model_frames > MAX_MODEL_FRAMES:
        raise InvalidRequestError(
            "duration",
            f"{frames} frames at {fps} fps is longer than the {MAX_MODEL_FRAMES - 1} one pass makes",
        )
    # audio-to-video holds the given audio (as firmly as its strength): the video is generated to it
    audio_mask = None
    if request.task is Task.AUDIO_TO_VIDEO:
        audio_mask = (1.0 - request.audio_strength,) * audio_latent_count(model_frames, fps)
    clip = _clip(model_frames, fps, size, pipeline, video_mask=None, audio_mask=audio_mask)
    return GenerationPlan(clip, size, frames, last_frame_index=frames - 1)


def _check_output_size(size: Size, field: str) -> None:
    long_side, short_side = max(size.width, size.height), min(size.width, size.height)
    if long_side > MAX_OUTPUT[0] or short_side > MAX_OUTPUT[1]:
        raise InvalidRequestError(field, f"{size} is larger than {MAX_OUTPUT[0]}x{MAX_OUTPUT[1]}")


def _clip(
    frames: int,
    fps: Fraction,
    size: Size,
    pipeline: Pipeline,
    video_mask: tuple[float, ...] | None,
    audio_mask: tuple[float, ...] | None,
) -> ClipPlan:
    model = size.rounded_up(size_stride(pipeline))
    return ClipPlan(
        frames=frames,
        fps=fps,
        size=model,
        stages=stage_sizes(model, pipeline),
        video_mask=video_mask if video_mask is not None else (1.0,) * latent_count(frames),
        audio_mask=audio_mask if audio_mask is not None else (1.0,) * audio_latent_count(frames, fps),
    )


def plan_extend(
    extend: ExtendOptions, source: VideoInfo, pipeline: Pipeline, chaining: Chaining = Chaining()
) -> ExtendPlan | ChainedExtendPlan:
    """One window when the new part and its context fit one (the most context that fits, unless the
    request says); else, unless the request keeps to `one_window`, a chain of windows."""
    extend.rules.check(source, "extend.video")
    fps = source.fps
    new = extend.duration.frames_at(fps)
    if new < 1:
        raise InvalidRequestError("extend.duration", f"{extend.duration} is less than one frame at {fps} fps")
    wanted = None if extend.context is None else extend.context.frames_at(fps)
    if wanted is not None and wanted > source.frame_count:
        raise InvalidRequestError(
            "extend.context", f"{wanted} frames asked, the video has {source.frame_count}"
        )
    if wanted is not None and wanted > MAX_CONTEXT * fps:
        raise InvalidRequestError("extend.context", f"at most {MAX_CONTEXT} s of context")
    if extend.one_window:
        return _plan_window(
            extend, _WindowEdge(extend.edge), new, wanted, source.frame_count, source, pipeline
        )
    window, edge = chaining.window, _WindowEdge(extend.edge)
    if _fits(edge, new, wanted, window):
        return _plan_window(extend, edge, new, wanted, source.frame_count, source, pipeline, window)
    if wanted is not None and wanted > window // 2:
        raise InvalidRequestError(
            "extend.context", f"at most {window // 2} frames of context in each window of a longer extend"
        )
    context = edge.context(
        wanted if wanted is not None else min(math.floor(chaining.context * fps), window // 2)
    )
    each = window - context  # new frames a window makes beside that context
    count = -(-new // each)
    share = min(each, _round_up(-(-new // count), TIME_STRIDE))
    windows, made = [], 0
    while made < new:
        part = min(share, new - made)
        available = source.frame_count + made
        windows.append(_plan_window(extend, edge, part, context, available, source, pipeline, window))
        made += part
    return ChainedExtendPlan(extend.edge, new, tuple(windows))


def check_length(request: GenerationRequest, chaining: Chaining, fps: Fraction | None = None) -> None:
    """An extend or a retake no longer than the server's longest (a provider's, held to one window,
    keeps its own rule), as far as can be told: a length in seconds always, one in frames once the
    source's rate (`fps`) is known."""
    seconds: Fraction | None
    if request.extend is not None and not request.extend.one_window:
        duration, field = request.extend.duration, "extend.duration"
        seconds = duration.seconds
        if seconds is None and fps is not None:
            seconds = duration.frames_at(fps) / fps
    elif request.retake is not None and not request.retake.one_window:
        seconds, field = request.retake.duration, "retake.duration"
    else:
        return
    if seconds is not None and seconds > chaining.longest:
        raise InvalidRequestError(
            field, f"at most {float(chaining.longest):g} s (this server's longest edit)"
        )


class _WindowEdge:
    """The frame counts at an edge: at the end the context starts the clip, so it is 8a+1 frames and
    the new part 8b; at the start the new part comes first and is 8b+1, the context 8a."""

    def __init__(self, edge: Edge) -> None:
        self.at_end = edge is Edge.END
        self.smallest_context = 1 if self.at_end else TIME_STRIDE

    def model_new(self, new: int) -> int:
        return _round_up(new, TIME_STRIDE) if self.at_end else model_frames_for(new)

    def context(self, frames: int) -> int:
        """The most context of at most `frames` frames the clip can hold."""
        return (
            (frames - 1) // TIME_STRIDE * TIME_STRIDE + 1
            if self.at_end
            else frames // TIME_STRIDE * TIME_STRIDE
        )


def _fits(edge: _WindowEdge, new: int, wanted: int | None, window: int) -> bool:
    room = window - edge.model_new(new)
    return room >= edge.smallest_context and (wanted is None or wanted <= room)


def _plan_window(
    extend: ExtendOptions,
    edge: _WindowEdge,
    new: int,
    wanted: int | None,
    available: int,
    source: VideoInfo,
    pipeline: Pipeline,
    window: int = MAX_MODEL_FRAMES,
) -> ExtendPlan:
    """One window: `new` frames beside `wanted` frames of context (None: the most that fits) of a
    video of `available` frames."""
    fps = source.fps
    model_new = edge.model_new(new)
    budget = window - model_new
    if budget < edge.smallest_context:
        raise InvalidRequestError(
            "extend.duration", f"{new} new frames leave no room for context within {window} frames"
        )
    if wanted is not None and wanted > budget:
        raise InvalidRequestError(
            "extend.context",
            f"context ({wanted} frames) + duration ({model_new} frames) exceed {window} frames "
            f"at the video's {fps} fps",
        )
    most = min(available, budget, math.floor(MAX_CONTEXT * fps))
    context = edge.context(min(wanted, available) if wanted is not None else most)
    if context < edge.smallest_context:
        raise InvalidRequestError(
            "extend.context", f"at least {edge.smallest_context} frame(s) of context are needed, got {wanted}"
        )
    total = context + model_new
    new_region = (context, total) if edge.at_end else (0, model_new)
    kept = (context, context + new) if edge.at_end else (model_new - new, model_new)
    new_latents = latents_touching(*new_region)
    video_mask = tuple(
        1.0 if j in new_latents else 1.0 - extend.video_strength for j in range(latent_count(total))
    )
    audio_count = audio_latent_count(total, fps)
    new_audio = audio_latents_touching(new_region[0] / fps, new_region[1] / fps, audio_count)
    audio_mask = tuple(1.0 if i in new_audio else 1.0 - extend.audio_strength for i in range(audio_count))
    size = Size(source.display_width, source.display_height)
    return ExtendPlan(
        clip=_clip(total, fps, size, pipeline, video_mask, audio_mask),
        edge=extend.edge,
        new_frames=new,
        context_frames=context,
        context_start=available - context if edge.at_end else 0,
        new_region=new_region,
        kept=kept,
    )


def plan_retake(
    retake: RetakeOptions, source: VideoInfo, pipeline: Pipeline, chaining: Chaining = Chaining()
) -> RetakePlan | ChainedRetakePlan:
    """One pass when the window fits one with its context, else (unless the request keeps to
    `one_window`) pieces regenerated one after another from the window's start."""
    retake.rules.check(source, "retake.video")
    fps, available = source.fps, source.frame_count
    start, end = retake.start, retake.start + retake.duration
    if start >= source.duration:
        raise InvalidRequestError(
            "retake.start", f"{float(start):g} s is not inside the {float(source.duration):.3f} s video"
        )
    if end > source.duration and retake.clamp:
        end = source.duration
    if end > source.duration:
        raise InvalidRequestError(
            "retake.duration",
            f"the window ends at {float(end):.3f} s, after the video's end at {float(source.duration):.3f} s",
        )
    first = math.floor(start * fps)
    stop = min(available, math.ceil(end * fps))
    window = MAX_MODEL_FRAMES if retake.one_window else chaining.window
    if retake.one_window or _retake_fits(first, stop, available, window):
        return _plan_piece(retake, source, pipeline, (first, stop), (start, end), window)
    # Pieces of whole latent frames (the first one 8k+1 at the video's start), each with room for
    # the context on both sides: what the pieces before made on the left, the source on the right.
    side = _round_up(min(math.floor(chaining.context * fps), window // 4), TIME_STRIDE)
    each = window - 1 - 2 * side
    bounds, at = [], first
    while at < stop:
        size = each + 1 if at == 0 else each
        bounds.append((at, min(stop, at + size)))
        at += size
    pieces = tuple(
        _plan_piece(retake, source, pipeline, (a, b), (max(start, a / fps), min(end, b / fps)), window)
        for a, b in bounds
    )
    windows = [piece.window for piece in pieces if piece.window is not None]
    audio = [piece.audio_window for piece in pieces if piece.audio_window is not None]
    return ChainedRetakePlan(
        pieces,
        FrameWindow(windows[0].start, windows[-1].stop) if windows else None,
        (audio[0][0], audio[-1][1]) if audio else None,
        (start, end),
    )


def _retake_fits(first: int, stop: int, available: int, window: int) -> bool:
    try:
        _retake_clip(first, stop, available, window)
    except InvalidRequestError:
        return False
    return True


def _plan_piece(
    retake: RetakeOptions,
    source: VideoInfo,
    pipeline: Pipeline,
    frames: tuple[int, int],
    seconds: tuple[Fraction, Fraction],
    window: int,
) -> RetakePlan:
    """The pass that regenerates source frames [first, stop) (its video) and the seconds [start, end)
    (its sound), snapped outward to whole latents, with as much context around them as fits."""
    fps, available = source.fps, source.frame_count
    (first, stop), (start, end) = frames, seconds
    clip_start, clip_frames = _retake_clip(first, stop, available, window)
    window_latents = latents_touching(first - clip_start, stop - clip_start)
    span_start, span_stop = latent_span(window_latents[0])[0], latent_span(window_latents[-1])[1]
    snapped = FrameWindow(clip_start + span_start, min(available, clip_start + span_stop))
    video_mask = tuple(
        1.0 if retake.mode.video and j in window_latents else 0.0 for j in range(latent_count(clip_frames))
    )
    audio_count = audio_latent_count(clip_frames, fps)
    offset = clip_start / fps
    audio_window = None
    audio_mask = (0.0,) * audio_count
    if retake.mode.audio:
        touching = audio_latents_touching(start - offset, end - offset, audio_count)
        audio_mask = tuple(1.0 if i in touching else 0.0 for i in range(audio_count))
        audio_window = (
            offset + audio_latent_span(touching[0])[0],
            min(source.duration, offset + audio_latent_span(touching[-1])[1]),
        )
    size = Size(source.display_width, source.display_height)
    return RetakePlan(
        clip=_clip(clip_frames, fps, size, pipeline, video_mask, audio_mask),
        clip_start=clip_start,
        source_frames_in_clip=min(clip_frames, available - clip_start),
        window=snapped if retake.mode.video else None,
        audio_window=audio_window,
        requested=(start, end),
    )


def _retake_clip(first: int, stop: int, available: int, window: int = MAX_MODEL_FRAMES) -> tuple[int, int]:
    """(source frame the clip starts at, clip frames) for a window [first, stop): the whole video when
    it fits one pass, else the window with as much context around it as fits, balanced on both sides,
    the window starting on a latent boundary."""
    whole = model_frames_for(available)
    if whole <= window:
        return 0, whole
    latents = latent_count(window)
    too_long = InvalidRequestError("retake.duration", f"at most {window - 1} frames in one retake")
    if first == 0:
        if len(latents_touching(0, stop)) > latents:
            raise too_long
        return 0, window
    size = -(-(stop - first) // TIME_STRIDE)
    spare = latents - 1 - size
    if spare < 0:
        raise too_long
    most_before = (first - 1) // TIME_STRIDE
    most_after = max(0, -(-(available - first - TIME_STRIDE * size) // TIME_STRIDE))
    before = min(most_before, max(spare - most_after, spare // 2))
    after = min(most_after, spare - before)
    return first - 1 - TIME_STRIDE * before, 1 + TIME_STRIDE * (before + size + after)


def decisions(plan: Plan) -> dict[str, object]:
    """What a plan decided that its request did not spell out: the model's size and length, an
    extend's context (and the windows a longer one is made in), a retake's window snapped to latent
    frames (video) and to audio frames."""
    notes: dict[str, object] = {"model_size": str(plan.clip.size), "model_frames": plan.clip.frames}
    if isinstance(plan, ChainedExtendPlan):
        first = plan.windows[0]
        notes |= {
            "new_frames": plan.new_frames,
            "windows": len(plan.windows),
            "window_new_frames": [window.new_frames for window in plan.windows],
            "context_frames": first.context_frames,
            "context_seconds": float(first.context_frames / plan.clip.fps),
            "edge": plan.edge.value,
        }
    if isinstance(plan, ExtendPlan):
        notes |= {
            "new_frames": plan.new_frames,
            "context_frames": plan.context_frames,
            "context_seconds": float(plan.context_frames / plan.clip.fps),
            "edge": plan.edge.value,
        }
    if isinstance(plan, ChainedRetakePlan):
        notes["windows"] = len(plan.pieces)
    if isinstance(plan, RetakePlan | ChainedRetakePlan):
        fps = plan.clip.fps
        notes["requested_window_seconds"] = [float(t) for t in plan.requested]
        if plan.window is not None:
            notes["video_window_frames"] = [plan.window.start, plan.window.stop]
            notes["video_window_seconds"] = [float(plan.window.start / fps), float(plan.window.stop / fps)]
        if plan.audio_window is not None:
            notes["audio_window_seconds"] = [float(t) for t in plan.audio_window]
    return notes
