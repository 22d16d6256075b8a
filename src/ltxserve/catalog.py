"""The models this server offers, by id: each with its parameters (typed, with defaults and limits,
and a JSON schema generated from them), the GenerationRequest they make, and its price.

Parameter names here are the catalog's own (`image`, `video`, `start_time`...), not any provider's:
a dialect adapter renames them on the way in and renames the schema on the way out. Prices follow
the hosted LTX-2.3 APIs (per second of video); they are information, not billing.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ltxserve.media.splice import Edge
from ltxserve.request import (
    AspectRatio,
    CameraMotion,
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
    SourceRules,
    Task,
)

MAX_PROMPT = 5000
RELEASED = 1772582400
"""2026-03-04, LTX-2.3's release: the models' `created` time."""

MediaUri = Annotated[
    str,
    Field(min_length=1, json_schema_extra={"format": "uri"}),
]
Tier = Literal["1080p", "1440p", "2160p"]
CameraChoice = Literal[
    "none", "dolly_in", "dolly_out", "dolly_left", "dolly_right", "jib_up", "jib_down", "static",
    "focus_shift",
]  # fmt: skip
"""'none' and every CameraMotion."""


class ParamsError(InvalidRequestError):
    """Parameters that do not validate; `errors` holds every (parameter, rule) found, the first is
    `field` and `message`."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__(*errors[0])
        self.errors = errors


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int | None = Field(None, ge=0, lt=2**63, description="Seed for a repeatable result.")


class TextToVideoParams(Params):
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT, description="What the video shows.")
    resolution: Tier = Field("1080p", description="Short side of the video, in pixels.")
    duration: Literal[6, 8, 10] = Field(6, description="Length of the video in seconds.")
    aspect_ratio: Literal["16:9", "9:16"] = Field("16:9", description="Landscape or portrait.")
    fps: Literal[24, 25, 48, 50] = Field(25, description="Frame rate in frames per second.")
    camera_motion: CameraChoice = Field("none", description="Camera movement; 'none' for none.")
    generate_audio: bool = Field(True, description="Generate synchronized audio.")


class ImageToVideoParams(TextToVideoParams):
    image: MediaUri | None = Field(None, description="First frame. Without any image: text-to-video.")
    last_frame_image: MediaUri | None = Field(
        None, description="Last frame: the video moves from the first frame (if any) to this one."
    )


class FastParams(ImageToVideoParams):
    duration: Literal[6, 8, 10, 12, 14, 16, 18, 20] = Field(  # type: ignore[assignment]
        6, description="Length of the video in seconds; above 10 s only at 1080p and 24 or 25 fps."
    )


class ExtendParams(Params):
    video: MediaUri = Field(
        description="The video to extend: at least 73 frames, 16:9 or 9:16, at most 3840x2160."
    )
    prompt: str = Field("", max_length=MAX_PROMPT, description="What happens in the new part.")
    duration: float = Field(5, ge=2, le=20, description="Seconds to add.")
    mode: Literal["end", "start"] = Field("end", description="Add at the end or at the start.")
    context: float | None = Field(
        None,
        ge=1,
        le=20,
        description="Seconds of the video the model sees; by default the most that fits 505 frames.",
    )


class RetakeParams(Params):
    video: MediaUri = Field(description="The video to edit: at least 73 frames, at most 3840x2160.")
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT, description="What the window shows instead.")
    start_time: float = Field(0, ge=0, description="Start of the window to regenerate, seconds.")
    duration: float = Field(2, ge=2, description="Length of the window, seconds (at least 2).")
    mode: Literal["replace_audio", "replace_video", "replace_audio_and_video"] = Field(
        "replace_audio_and_video", description="What to regenerate inside the window."
    )


@dataclass(frozen=True)
class Pricing:
    """US dollars per second of video: of the output, or of the part generated (`per`)."""

    per_second: float
    by_resolution: Mapping[str, float] | None = None
    per: Literal["output", "generated", "input"] = "output"

    def to_json(self) -> dict[str, Any]:
        return {
            "method": "per_video_output_second",
            "cost_per_second": self.per_second,
            "cost_per_second_by_resolution": dict(self.by_resolution) if self.by_resolution else None,
            "cost_per_second_high_res": None,
            "cost_per_second_with_audio": None,
            "cost_per_image": None,
            "billed_seconds": self.per,
        }


_PRO = Pricing(0.06, {"1080p": 0.06, "1440p": 0.12, "2160p": 0.24})
_FAST = Pricing(0.04, {"1080p": 0.04, "1440p": 0.08, "2160p": 0.16})
_EDIT = 0.10
_RETAKE_SOURCE = SourceRules(min_frames=73, max_long_side=3840, max_short_side=2160)
_EXTEND_SOURCE = SourceRules(
    min_frames=73, max_long_side=3840, max_short_side=2160,
    aspect_ratios=(AspectRatio.LANDSCAPE, AspectRatio.PORTRAIT),
)  # fmt: skip


@dataclass(frozen=True)
class ModelSpec:
    id: str
    display_name: str
    description: str
    params: type[Params]
    inputs: tuple[str, ...]
    pricing: Pricing
    build: Callable[[Any], GenerationRequest]
    fields: Mapping[str, str] = field(default_factory=dict)
    """GenerationRequest field (or its prefix) -> the parameter it came from."""
    rules: Callable[[Any], None] | None = None

    def validate(self, body: Mapping[str, Any]) -> Params:
        try:
            params = self.params.model_validate(dict(body))
        except ValidationError as error:
            raise ParamsError([_describe(detail) for detail in error.errors()]) from None
        if self.rules is not None:
            self.rules(params)
        return params

    def request(self, params: Params) -> GenerationRequest:
        """The request `params` ask for; InvalidRequestError names the parameter."""
        try:
            return self.build(params)
        except InvalidRequestError as error:
            raise InvalidRequestError(self.param_for(error.field), error.message) from None

    def param_for(self, request_field: str) -> str:
        """The parameter a GenerationRequest field came from (itself when nothing maps it)."""
        name = request_field
        while name:
            if name in self.fields:
                return self.fields[name]
            name = name.rpartition(".")[0]
        return request_field

    def cost(self, params: Params, source_seconds: float | None = None) -> float | None:
        """The price of `params`; None while it depends on the source video's length, not yet known
        (a retake's result is its whole source: its duration is that length)."""
        pricing = self.pricing
        rate = pricing.per_second
        if pricing.by_resolution is not None:
            rate = pricing.by_resolution[getattr(params, "resolution")]  # noqa: B009 (models vary)
        if pricing.per == "input":
            return None if source_seconds is None else round(rate * source_seconds, 4)
        return round(rate * float(getattr(params, "duration")), 4)  # noqa: B009

    def schema(self) -> dict[str, Any]:
        schema = self.params.model_json_schema()
        properties = schema["properties"]
        properties["seed"] = properties.pop("seed")  # the shared knob goes last, after the model's own
        return schema

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "model",
            "created": RELEASED,
            "owned_by": "lightricks",
            "display_name": self.display_name,
            "description": self.description,
            "capabilities": {"input": list(self.inputs), "output": ["video", "audio"]},
            "pricing": self.pricing.to_json(),
        }


def _describe(detail: Any) -> tuple[str, str]:
    location = ".".join(str(part) for part in detail["loc"]) or "body"
    kind, message = detail["type"], detail["msg"]
    if kind == "extra_forbidden":
        message = "unknown parameter"
    elif kind == "missing":
        message = "required"
    elif kind == "literal_error":
        message = f"must be {message.removeprefix('Input should be ')}"
    return location, message


def _seconds(value: float) -> Fraction:
    return Fraction(str(value))


def _camera(choice: str) -> CameraMotion | None:
    return None if choice == "none" else CameraMotion(choice)


def _image(uri: str | None) -> ImageCondition | None:
    return ImageCondition(MediaRef(uri)) if uri else None


def _video_request(params: TextToVideoParams, pipeline: Pipeline) -> GenerationRequest:
    first = _image(getattr(params, "image", None))
    last = _image(getattr(params, "last_frame_image", None))
    return GenerationRequest(
        Task.IMAGE_TO_VIDEO if first or last else Task.TEXT_TO_VIDEO,
        params.prompt,
        seed=params.seed,
        resolution=Resolution(params.resolution),
        aspect_ratio=AspectRatio(params.aspect_ratio),
        duration=Duration.of_seconds(params.duration),
        fps=Fraction(params.fps),
        generate_audio=params.generate_audio,
        first_frame=first,
        last_frame=last,
        camera=_camera(params.camera_motion),
        sampling=Sampling(pipeline=pipeline),
    )


def _fast_rules(params: FastParams) -> None:
    if params.duration > 10:
        if params.resolution != "1080p":
            raise InvalidRequestError("duration", "longer than 10 s is made at 1080p only")
        if params.fps not in (24, 25):
            raise InvalidRequestError("duration", "longer than 10 s is made at 24 or 25 fps only")


def _extend_request(params: ExtendParams) -> GenerationRequest:
    context = Duration.of_seconds(_seconds(params.context)) if params.context is not None else None
    return GenerationRequest(
        Task.EXTEND,
        params.prompt,
        seed=params.seed,
        extend=ExtendOptions(
            MediaRef(params.video),
            Duration.of_seconds(_seconds(params.duration)),
            Edge(params.mode),
            context,
            rules=_EXTEND_SOURCE,
        ),
    )


def _retake_request(params: RetakeParams) -> GenerationRequest:
    return GenerationRequest(
        Task.RETAKE,
        params.prompt,
        seed=params.seed,
        retake=RetakeOptions(
            MediaRef(params.video),
            _seconds(params.start_time),
            _seconds(params.duration),
            RetakeMode(params.mode),
            rules=_RETAKE_SOURCE,
        ),
        sampling=Sampling(pipeline=Pipeline.ONE_STAGE),
    )


_VIDEO_FIELDS = {
    "first_frame": "image",
    "last_frame": "last_frame_image",
    "camera": "camera_motion",
    "sampling": "model",
    "loras": "model",
}
_EXTEND_FIELDS = {"extend.video": "video", "extend.duration": "duration", "extend.context": "context",
                  "extend": "video", "sampling": "model"}  # fmt: skip
_RETAKE_FIELDS = {"retake.video": "video", "retake.start": "start_time", "retake.duration": "duration",
                  "retake": "video", "sampling": "model"}  # fmt: skip

MODELS: dict[str, ModelSpec] = {
    spec.id: spec
    for spec in (
        ModelSpec(
            "ltx-2-3-pro",
            "LTX-2.3 Pro",
            "Image-to-video with synchronized audio (text-to-video without an image): first and last "
            "frame, camera motion, up to 4K at 50 fps. Two-stage dev pipeline.",
            ImageToVideoParams,
            ("text", "image"),
            _PRO,
            lambda params: _video_request(params, Pipeline.TWO_STAGE),
            _VIDEO_FIELDS,
        ),
        ModelSpec(
            "ltx-2-3-pro-text-to-video",
            "LTX-2.3 Pro: Text to Video",
            "Text-to-video with synchronized audio, camera motion, up to 4K at 50 fps. "
            "Two-stage dev pipeline.",
            TextToVideoParams,
            ("text",),
            _PRO,
            lambda params: _video_request(params, Pipeline.TWO_STAGE),
            _VIDEO_FIELDS,
        ),
        ModelSpec(
            "ltx-2-3-fast",
            "LTX-2.3 Fast",
            "Text- or image-to-video with the distilled model: 8 + 3 steps, up to 20 s at 1080p.",
            FastParams,
            ("text", "image"),
            _FAST,
            lambda params: _video_request(params, Pipeline.DISTILLED),
            _VIDEO_FIELDS,
            _fast_rules,
        ),
        ModelSpec(
            "ltx-2-3-pro-extend-video",
            "LTX-2.3 Pro: Extend Video",
            "Lengthen a video at its end or start by up to 20 s, with the video as context; new audio "
            "where the video has audio. Returns the whole stitched video at the input's size.",
            ExtendParams,
            ("text", "video"),
            Pricing(_EDIT, per="generated"),
            _extend_request,
            _EXTEND_FIELDS,
        ),
        ModelSpec(
            "ltx-2-3-pro-retake",
            "LTX-2.3 Pro: Retake",
            "Regenerate a window of 2 s or more of a video: its picture, its sound or both; the rest "
            "stays as it was.",
            RetakeParams,
            ("text", "video"),
            Pricing(_EDIT, per="input"),
            _retake_request,
            _RETAKE_FIELDS,
        ),
    )
}
