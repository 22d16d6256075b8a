"""GenerationRequest: the one typed, dialect-neutral request every surface translates into.

It says what is wanted, not how: sizes may be a resolution tier, lengths may be seconds or frames,
knobs left as None take the pipeline's defaults. Structural rules (which fields a task needs) are
checked here; rules that need the weights or a probed source are checked by the engine's planner.
Every refusal is an InvalidRequestError naming the field.
"""

from dataclasses import dataclass, field, replace
from enum import StrEnum
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ltxserve.media import EncodeOptions, VideoInfo
from ltxserve.media.splice import Edge

if TYPE_CHECKING:
    from pydantic import TypeAdapter


class InvalidRequestError(ValueError):
    """A request that cannot be run as given; `field` is the dotted path of the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class Task(StrEnum):
    TEXT_TO_VIDEO = "text_to_video"
    IMAGE_TO_VIDEO = "image_to_video"
    AUDIO_TO_VIDEO = "audio_to_video"
    EXTEND = "extend"
    RETAKE = "retake"


class Pipeline(StrEnum):
    ONE_STAGE = "one_stage"
    """Dev model at full size, guided, N steps."""
    TWO_STAGE = "two_stage"
    """Dev model at half size (guided), latent ×2 upscale, refined with the distilled LoRA."""
    DISTILLED = "distilled"
    """Distilled model: 8 unguided steps at half size, upscale, 3 refining steps."""


class Scheduler(StrEnum):
    LTX2 = "ltx2"
    LINEAR_QUADRATIC = "linear_quadratic"
    BETA = "beta"


class CameraMotion(StrEnum):
    DOLLY_IN = "dolly_in"
    DOLLY_OUT = "dolly_out"
    DOLLY_LEFT = "dolly_left"
    DOLLY_RIGHT = "dolly_right"
    JIB_UP = "jib_up"
    JIB_DOWN = "jib_down"
    STATIC = "static"
    FOCUS_SHIFT = "focus_shift"


class RetakeMode(StrEnum):
    REPLACE_AUDIO = "replace_audio"
    REPLACE_VIDEO = "replace_video"
    REPLACE_AUDIO_AND_VIDEO = "replace_audio_and_video"

    @property
    def video(self) -> bool:
        return self is not RetakeMode.REPLACE_AUDIO

    @property
    def audio(self) -> bool:
        return self is not RetakeMode.REPLACE_VIDEO


class Resolution(StrEnum):
    P480 = "480p"
    P720 = "720p"
    P1080 = "1080p"
    P1440 = "1440p"
    P2160 = "2160p"

    @property
    def short_side(self) -> int:
        return int(self.value.removesuffix("p"))


class AspectRatio(StrEnum):
    LANDSCAPE = "16:9"
    PORTRAIT = "9:16"
    SQUARE = "1:1"
    CLASSIC = "4:3"
    CLASSIC_PORTRAIT = "3:4"
    CINEMA = "21:9"

    @property
    def ratio(self) -> Fraction:
        width, height = self.value.split(":")
        return Fraction(int(width), int(height))


@dataclass(frozen=True)
class MediaRef:
    """A media input: a URL, a data URI or an upload reference as given, or a local file once resolved."""

    uri: str

    @classmethod
    def file(cls, path: Path) -> "MediaRef":
        return cls(str(path.resolve()))

    @property
    def is_local(self) -> bool:
        return "://" not in self.uri and not self.uri.startswith("data:")

    @property
    def path(self) -> Path:
        if not self.is_local:
            raise ValueError(f"{self.uri[:60]} has not been fetched to a local file")
        return Path(self.uri)


@dataclass(frozen=True)
class Duration:
    """A length given in seconds or in frames; frames are counted at whatever rate applies."""

    seconds: Fraction | None = None
    frames: int | None = None

    def __post_init__(self) -> None:
        if (self.seconds is None) == (self.frames is None):
            raise ValueError("a Duration is seconds or frames, exactly one")

    @classmethod
    def of_seconds(cls, seconds: float | Fraction | str) -> "Duration":
        return cls(seconds=Fraction(seconds))

    @classmethod
    def of_frames(cls, frames: int) -> "Duration":
        return cls(frames=frames)

    def frames_at(self, fps: Fraction) -> int:
        """Frame count at `fps`: seconds are rounded to the nearest whole frame."""
        if self.frames is not None:
            return self.frames
        assert self.seconds is not None
        return int((self.seconds * fps + Fraction(1, 2)) // 1)

    def __str__(self) -> str:
        return f"{float(self.seconds):g} s" if self.seconds is not None else f"{self.frames} frames"


@dataclass(frozen=True)
class Guidance:
    """Guidance for one modality; None keeps the pipeline's default."""

    cfg: float | None = None
    stg: float | None = None
    rescale: float | None = None
    modality: float | None = None
    stg_blocks: tuple[int, ...] | None = None
    skip_step: int | None = None

    @property
    def is_default(self) -> bool:
        return self == Guidance()


@dataclass(frozen=True)
class Sampling:
    pipeline: Pipeline = Pipeline.TWO_STAGE
    steps: int | None = None
    scheduler: Scheduler | None = None
    video: Guidance = Guidance()
    audio: Guidance = Guidance()
    distilled_lora_scales: tuple[float, float] | None = None
    """Strength of the distilled LoRA in the first (half-size) and second (refining) pass."""
    gradient_estimation_gamma: float | None = None
    noise_injection: bool | None = None
    """Each step of the first pass lands below the next sigma and adds fresh noise back up to it
    (ltx-core's SDE step), instead of the deterministic Euler step."""
    step_reuse: int | None = None
    """The first pass runs the model on one step in 1 + step_reuse; the steps between reuse its last
    prediction: fewer model runs for some quality."""


@dataclass(frozen=True)
class LoraChoice:
    """A user LoRA: a name (a file under the weights directory's loras/), a file path, or a media
    reference (URL, data URI, upload) that workers fetch once and keep by content."""

    name: str
    scale: float = 1.0

    @property
    def is_remote(self) -> bool:
        return "://" in self.name or self.name.startswith("data:")


@dataclass(frozen=True)
class InputRules:
    """How a product takes its media, on top of the server's own fetch policy (which always applies):
    the LTX API's HTTPS-only URLs, host names, no redirects and byte caps."""

    image_url_bytes: int
    media_url_bytes: int
    """Video and audio."""
    image_data_bytes: int
    media_data_bytes: int
    """Of a data URI's payload as sent (base64)."""
    upload_bytes: int
    https_only: bool = True
    host_names_only: bool = True
    """No address literals in URLs."""
    redirects: bool = False
    containers: frozenset[str] = frozenset()
    """Container formats taken, as the media layer names them (mp4, png...); empty: any."""
    video_codecs: frozenset[str] = frozenset()
    """Of video inputs; empty: any."""
    audio_codecs: frozenset[str] = frozenset()
    """Of audio inputs (a video's own sound is not checked); empty: any."""

    def url_bytes(self, field: str) -> int:
        return self.image_url_bytes if is_image_field(field) else self.media_url_bytes

    def data_bytes(self, field: str) -> int:
        return self.image_data_bytes if is_image_field(field) else self.media_data_bytes


def is_image_field(field: str) -> bool:
    """A media input that is an image (`first_frame.image`, `extend.end_image.image`...)."""
    return field.endswith(".image")


@dataclass(frozen=True)
class ImageCondition:
    image: MediaRef
    strength: float = 1.0


@dataclass(frozen=True)
class SourceRules:
    """What a source video must be for a model, beyond the server's media limits."""

    min_frames: int = 1
    max_long_side: int | None = None
    max_short_side: int | None = None
    aspect_ratios: tuple[AspectRatio, ...] = ()
    """Allowed shapes (within 1 %); empty allows any."""

    def check(self, video: VideoInfo, field: str) -> None:
        width, height = video.display_width, video.display_height
        if video.frame_count < self.min_frames:
            raise InvalidRequestError(
                field, f"the video has {video.frame_count} frames; at least {self.min_frames} are needed"
            )
        long_side, short_side = max(width, height), min(width, height)
        if (self.max_long_side and long_side > self.max_long_side) or (
            self.max_short_side and short_side > self.max_short_side
        ):
            raise InvalidRequestError(
                field, f"the video is {width}x{height}; at most {self.max_long_side}x{self.max_short_side}"
            )
        shape = Fraction(width, height)
        if self.aspect_ratios and not any(abs(shape / ratio.ratio - 1) <= Fraction(1, 100)
                                          for ratio in self.aspect_ratios):  # fmt: skip
            allowed = " or ".join(ratio.value for ratio in self.aspect_ratios)
            raise InvalidRequestError(field, f"the video is {width}x{height}; it must be {allowed}")


@dataclass(frozen=True)
class ExtendOptions:
    video: MediaRef
    duration: Duration
    edge: Edge = Edge.END
    context: Duration | None = None
    """How much of the source the model sees; None takes the most that fits."""
    video_strength: float = 1.0
    audio_strength: float = 1.0
    end_image: ImageCondition | None = None
    """The frame the new part reaches at its outer edge: its last frame at the end, its first at the start."""
    rules: SourceRules = SourceRules()
    fps: Fraction | None = None
    """Re-time the source to this rate first (each frame the one on screen at its time) and extend
    at it; None keeps the source's rate."""
    size: tuple[int, int] | None = None
    """Re-size the source to this width and height first (covered, centre-cropped) and extend at it;
    None keeps the source's size."""
    keep_source: bool = True
    """The output is the source with the new part; False: the new part alone."""
    one_window: bool = False
    """A provider's rule: the context and the new part fit one model window (505 frames) or the
    request is refused; False: a longer extend is made window by window."""


@dataclass(frozen=True)
class RetakeOptions:
    video: MediaRef
    start: Fraction
    duration: Fraction
    mode: RetakeMode = RetakeMode.REPLACE_AUDIO_AND_VIDEO
    rules: SourceRules = SourceRules()
    clamp: bool = False
    """A window running past the video's end is cut at it (the LTX API's rule) instead of refused."""
    one_window: bool = False
    """A provider's rule: the window and its context fit one model pass (504 frames) or the request
    is refused; False: a longer window is regenerated piece by piece."""


@dataclass(frozen=True)
class GenerationRequest:
    task: Task
    prompt: str = ""
    negative_prompt: str | None = None
    seed: int | None = None
    resolution: Resolution | None = None
    aspect_ratio: AspectRatio | None = None
    width: int | None = None
    height: int | None = None
    duration: Duration | None = None
    fps: Fraction | None = None
    generate_audio: bool = True
    first_frame: ImageCondition | None = None
    last_frame: ImageCondition | None = None
    audio: MediaRef | None = None
    extend: ExtendOptions | None = None
    retake: RetakeOptions | None = None
    sampling: Sampling = Sampling()
    camera: CameraMotion | None = None
    camera_scale: float = 1.0
    loras: tuple[LoraChoice, ...] = ()
    output: EncodeOptions = field(default_factory=EncodeOptions)
    image_area: int | None = None
    """Size the video after its first (or last) frame image: that image's aspect ratio at about
    this many pixels, decided once the image is read (a provider's "auto" size). Instead of a
    size or a resolution."""
    image_aspects: tuple[AspectRatio, ...] = ()
    """With `image_area`: the image's aspect ratio snapped to the nearest of these (a product that
    makes only some shapes, e.g. 16:9 or 9:16 by the image's orientation)."""
    match_audio: bool = False
    """Audio-to-video as long as its audio (at `fps`), decided once the audio is read. Instead of
    a duration."""
    audio_strength: float = 1.0
    """Audio-to-video: how firmly the model holds to the given audio while it makes the video (1:
    exactly; lower gives it freedom). The output's sound is the given audio either way."""
    audio_seconds: tuple[Fraction, Fraction] | None = None
    """With `match_audio`: the shortest and longest audio the product takes, checked once it is read."""
    input_rules: InputRules | None = None
    """The product's own rules on how media may be given; None: the server's policy alone."""
    expand_prompt: bool = False
    """Have Gemma rewrite the prompt first, with LTX's prompt-enhancer instructions; the result
    reports the prompt it was made from."""

    def __post_init__(self) -> None:
        _check_structure(self)

    @property
    def source(self) -> MediaRef | None:
        """The video being edited (extend, retake)."""
        if self.extend is not None:
            return self.extend.video
        if self.retake is not None:
            return self.retake.video
        return None

    @property
    def media_inputs(self) -> dict[str, MediaRef]:
        """Every media reference, by the field it came from."""
        refs: dict[str, MediaRef | None] = {name: _field_at(self, name) for name in MEDIA_FIELDS}
        for index, lora in enumerate(self.loras):
            if lora.is_remote:
                refs[f"loras.{index}"] = MediaRef(lora.name)
        return {name: ref for name, ref in refs.items() if ref is not None}

    def with_media(self, refs: dict[str, MediaRef]) -> "GenerationRequest":
        """The same request with media references replaced, by the names `media_inputs` uses."""

        def swap(name: str, ref: MediaRef) -> MediaRef:
            return refs.get(name, ref)

        def condition(name: str, given: ImageCondition | None) -> ImageCondition | None:
            return replace(given, image=swap(f"{name}.image", given.image)) if given else None

        extend, retake = self.extend, self.retake
        if extend is not None:
            extend = replace(
                extend,
                video=swap("extend.video", extend.video),
                end_image=condition("extend.end_image", extend.end_image),
            )
        if retake is not None:
            retake = replace(retake, video=swap("retake.video", retake.video))
        loras = tuple(
            replace(lora, name=refs[f"loras.{index}"].uri) if f"loras.{index}" in refs else lora
            for index, lora in enumerate(self.loras)
        )
        return replace(
            self,
            first_frame=condition("first_frame", self.first_frame),
            last_frame=condition("last_frame", self.last_frame),
            audio=swap("audio", self.audio) if self.audio else None,
            extend=extend,
            retake=retake,
            loras=loras,
        )


MEDIA_FIELDS = ("first_frame.image", "last_frame.image", "audio", "extend.video", "extend.end_image.image",
                "retake.video")  # fmt: skip
"""Where a GenerationRequest holds a media reference (LoRAs by URL aside: `loras.N`)."""


def _field_at(request: GenerationRequest, path: str) -> Any:
    """The value at a dotted field path, or None where a part of it is unset."""
    value: Any = request
    for name in path.split("."):
        value = getattr(value, name, None) if value is not None else None
    return value


def _check_structure(request: GenerationRequest) -> None:
    task = request.task
    is_edit = task in (Task.EXTEND, Task.RETAKE)
    needs = {
        Task.IMAGE_TO_VIDEO: ("first_frame or last_frame", request.first_frame or request.last_frame),
        Task.AUDIO_TO_VIDEO: ("audio", request.audio),
        Task.EXTEND: ("extend", request.extend),
        Task.RETAKE: ("retake", request.retake),
    }
    if task in needs and not needs[task][1]:
        raise InvalidRequestError(needs[task][0], f"required for {task.value}")
    if task is Task.TEXT_TO_VIDEO and (request.first_frame or request.last_frame):
        raise InvalidRequestError("first_frame", "text_to_video takes no image; use image_to_video")
    if request.extend is not None and task is not Task.EXTEND:
        raise InvalidRequestError("extend", f"only for the extend task, not {task.value}")
    if request.retake is not None and task is not Task.RETAKE:
        raise InvalidRequestError("retake", f"only for the retake task, not {task.value}")
    if request.audio is not None and task not in (Task.AUDIO_TO_VIDEO,):
        raise InvalidRequestError("audio", f"only for audio_to_video, not {task.value}")
    if is_edit:
        for name in ("resolution", "aspect_ratio", "width", "height", "duration", "fps"):
            if getattr(request, name) is not None:
                raise InvalidRequestError(name, f"{task.value} keeps the source's size, rate and length")
        if request.first_frame or request.last_frame:
            raise InvalidRequestError("first_frame", f"{task.value} takes no first or last frame")
    elif not request.prompt.strip() and task is Task.TEXT_TO_VIDEO:
        raise InvalidRequestError("prompt", "required for text_to_video")
    if request.match_audio and (task is not Task.AUDIO_TO_VIDEO or request.duration is not None):
        raise InvalidRequestError("match_audio", "an audio-to-video request without a duration of its own")
    if request.image_area is not None:
        if not (request.first_frame or request.last_frame):
            raise InvalidRequestError(
                "image_area", "sizes a video after its image: give a first or last frame"
            )
        if request.width or request.resolution or request.aspect_ratio:
            raise InvalidRequestError("image_area", "give either a size or image_area, not both")
        if request.image_area <= 0:
            raise InvalidRequestError("image_area", f"must be positive, got {request.image_area}")
    elif request.image_aspects:
        raise InvalidRequestError("image_aspects", "snap a video sized after its image: give image_area")
    if not 0 <= request.audio_strength <= 1:
        raise InvalidRequestError("audio_strength", f"must be between 0 and 1, got {request.audio_strength}")
    if request.audio_strength != 1 and task is not Task.AUDIO_TO_VIDEO:
        raise InvalidRequestError("audio_strength", "only for audio_to_video")
    if request.audio_seconds is not None and not request.match_audio:
        raise InvalidRequestError("audio_seconds", "bounds an audio-to-video request as long as its audio")
    if (request.width is None) != (request.height is None):
        raise InvalidRequestError(
            "width" if request.width is None else "height", "width and height go together"
        )
    if request.width is not None and (request.resolution or request.aspect_ratio):
        raise InvalidRequestError(
            "resolution", "give either width and height or a resolution and aspect ratio"
        )
    if request.fps is not None and request.fps <= 0:
        raise InvalidRequestError("fps", f"must be positive, got {request.fps}")
    if request.seed is not None and not 0 <= request.seed < 2**63:
        raise InvalidRequestError("seed", "must be between 0 and 2^63 - 1")
    for name, condition in (("first_frame", request.first_frame), ("last_frame", request.last_frame)):
        if condition is not None and not 0 <= condition.strength <= 1:
            raise InvalidRequestError(
                f"{name}.strength", f"must be between 0 and 1, got {condition.strength}"
            )
    if request.extend is not None:
        _check_extend(request.extend)
    if request.retake is not None:
        _check_retake(request.retake)
    if not 0 <= request.camera_scale <= 1:
        raise InvalidRequestError("camera_scale", f"must be between 0 and 1, got {request.camera_scale}")
    _check_sampling(request.sampling)


def _check_extend(extend: ExtendOptions) -> None:
    for name in ("video_strength", "audio_strength"):
        value = getattr(extend, name)
        if not 0 <= value <= 1:
            raise InvalidRequestError(f"extend.{name}", f"must be between 0 and 1, got {value}")
    if extend.end_image is not None and not 0 <= extend.end_image.strength <= 1:
        raise InvalidRequestError("extend.end_image.strength", "must be between 0 and 1")
    if extend.fps is not None and extend.fps <= 0:
        raise InvalidRequestError("extend.fps", f"must be positive, got {extend.fps}")
    if extend.size is not None and not all(side > 0 and side % 2 == 0 for side in extend.size):
        raise InvalidRequestError("extend.size", f"width and height must be positive and even: {extend.size}")
    for name in ("duration", "context"):
        length: Duration | None = getattr(extend, name)
        if length is not None and ((length.seconds or 0) < 0 or (length.frames or 0) < 0):
            raise InvalidRequestError(f"extend.{name}", f"must not be negative, got {length}")


def _check_retake(retake: RetakeOptions) -> None:
    if retake.start < 0:
        raise InvalidRequestError("retake.start", f"must be 0 or more, got {float(retake.start):g}")
    if retake.duration <= 0:
        raise InvalidRequestError("retake.duration", f"must be positive, got {float(retake.duration):g}")


def _check_sampling(sampling: Sampling) -> None:
    if sampling.steps is not None and sampling.steps < 1:
        raise InvalidRequestError("sampling.steps", f"must be at least 1, got {sampling.steps}")
    if sampling.distilled_lora_scales is not None and not all(
        0 <= s <= 1 for s in sampling.distilled_lora_scales
    ):
        raise InvalidRequestError("sampling.distilled_lora_scales", "each must be between 0 and 1")
    if sampling.gradient_estimation_gamma is not None and sampling.gradient_estimation_gamma < 0:
        raise InvalidRequestError("sampling.gradient_estimation_gamma", "must be 0 or more")
    if sampling.step_reuse is not None and sampling.step_reuse < 0:
        raise InvalidRequestError("sampling.step_reuse", "must be 0 or more")
    for modality in ("video", "audio"):
        guidance: Guidance = getattr(sampling, modality)
        if guidance.cfg is not None and guidance.cfg < 1:
            raise InvalidRequestError(f"sampling.{modality}.cfg", f"must be 1 or more, got {guidance.cfg}")
        if guidance.stg is not None and guidance.stg < 0:
            raise InvalidRequestError(f"sampling.{modality}.stg", f"must be 0 or more, got {guidance.stg}")
        if guidance.rescale is not None and not 0 <= guidance.rescale <= 1:
            raise InvalidRequestError(f"sampling.{modality}.rescale", "must be between 0 and 1")
        if guidance.skip_step is not None and guidance.skip_step < 0:
            raise InvalidRequestError(f"sampling.{modality}.skip_step", "must be 0 or more")


@cache
def _codec() -> "TypeAdapter[GenerationRequest]":
    from pydantic import TypeAdapter

    return TypeAdapter(GenerationRequest)


def request_to_json(request: GenerationRequest) -> dict[str, Any]:
    """The request as plain JSON values (fractions as "n/d" strings), for the job table."""
    data: dict[str, Any] = _codec().dump_python(request, mode="json")
    return data


INTERNAL_FIELDS = frozenset({"input_rules"})
"""Request fields a client does not set: a product's own rules."""


def client_json(request: GenerationRequest) -> dict[str, Any]:
    """The request as a client sends it whole (OpenAI's surface takes it so): what is set, at any
    depth (an unset field is left out, as its default), without the product's own rules."""
    whole = {name: value for name, value in request_to_json(request).items() if name not in INTERNAL_FIELDS}
    return _set_only(whole)


def _set_only(data: dict[str, Any]) -> dict[str, Any]:
    kept = {}
    for name, value in data.items():
        if isinstance(value, dict):
            value = _set_only(value)
        if value not in (None, {}, []):
            kept[name] = value
    return kept


def request_from_json(data: dict[str, Any]) -> GenerationRequest:
    return _codec().validate_python(data)
