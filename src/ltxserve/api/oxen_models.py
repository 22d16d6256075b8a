"""Oxen's models: ids, parameter sets (6/8/10 s, 24/25/48/50 fps, resolution tiers), defaults,
limits and per-second pricing, each a catalog Product.

Parameter names here are the catalog's own (`image`, `video`, `start_time`...); the Oxen router
renames them on the way in and renames the schema on the way out (jobs keep these names). Prices
follow the hosted LTX-2.3 APIs (per second of video); they are information, not billing.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field

from ltxserve import pro
from ltxserve.catalog import MAX_PROMPT, Params, Price, Product, asked_seconds, made_seconds, per_second
from ltxserve.request import (
    GenerationRequest,
    Pipeline,
)

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


class AudioToVideoParams(Params):
    audio: MediaUri = Field(description="The audio (2-20 s): the video is made to it and keeps it.")
    image: MediaUri | None = Field(None, description="The first frame; required without a prompt.")
    prompt: str = Field("", max_length=MAX_PROMPT, description="What the video shows.")
    aspect_ratio: Literal["auto", "16:9", "9:16"] = Field(
        "auto", description="1920x1080 or 1080x1920; auto: the image's orientation (landscape without one)."
    )
    guidance_scale: float | None = Field(
        None, ge=1, le=50, description="How closely the video follows the prompt: 5, or 9 with an image."
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


@dataclass(frozen=True)
class OxenModel:
    """One of Oxen's models: the product it runs and how Oxen's model list describes it."""

    product: Product
    display_name: str
    description: str
    inputs: tuple[str, ...]
    pricing: Pricing

    @property
    def id(self) -> str:
        return self.product.id

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


def _price(pricing: Pricing) -> Price:
    """Per second asked for, or of the source's (a retake's result is its whole source, so its length
    is known once the job has run)."""
    by_resolution = pricing.by_resolution
    rate = pricing.per_second if by_resolution is None else (lambda params: by_resolution[params.resolution])
    return per_second(rate, made_seconds if pricing.per == "input" else asked_seconds)


def _video_request(params: TextToVideoParams, pipeline: Pipeline) -> GenerationRequest:
    return pro.video(
        params.prompt,
        pipeline=pipeline,
        resolution=params.resolution,
        aspect_ratio=params.aspect_ratio,
        duration=params.duration,
        fps=params.fps,
        generate_audio=params.generate_audio,
        first_frame=getattr(params, "image", None),
        last_frame=getattr(params, "last_frame_image", None),
        camera_motion=params.camera_motion,
        seed=params.seed,
    )


def _fast_rules(params: FastParams) -> None:
    pro.check_fast(params.duration, params.resolution, params.fps)


def _extend_request(params: ExtendParams) -> GenerationRequest:
    return pro.extend(
        params.video, params.prompt, duration=params.duration, mode=params.mode, context=params.context,
        seed=params.seed,
    )  # fmt: skip


def _audio_request(params: AudioToVideoParams) -> GenerationRequest:
    return pro.audio_video(
        params.audio, params.prompt, image_url=params.image, aspect_ratio=params.aspect_ratio,
        guidance_scale=params.guidance_scale, seed=params.seed,
    )  # fmt: skip


def _retake_request(params: RetakeParams) -> GenerationRequest:
    return pro.retake(
        params.video, params.prompt, start=params.start_time, duration=params.duration, mode=params.mode,
        seed=params.seed,
    )  # fmt: skip


_VIDEO_FIELDS = {
    "first_frame": "image",
    "last_frame": "last_frame_image",
    "camera": "camera_motion",
    "sampling": "model",
    "loras": "model",
}
_EXTEND_FIELDS = {"extend.video": "video", "extend.duration": "duration", "extend.context": "context",
                  "extend": "video", "sampling": "model"}  # fmt: skip
_AUDIO_FIELDS = {"audio": "audio", "first_frame": "image", "image_area": "image",
                 "sampling": "guidance_scale", "duration": "audio"}  # fmt: skip
_RETAKE_FIELDS = {"retake.video": "video", "retake.start": "start_time", "retake.duration": "duration",
                  "retake": "video", "sampling": "model"}  # fmt: skip


def _model(
    id: str,
    display_name: str,
    description: str,
    params: type[Params],
    inputs: tuple[str, ...],
    pricing: Pricing,
    build: Callable[[Any], GenerationRequest],
    fields: Mapping[str, str],
    rules: Callable[[Any], None] | None = None,
) -> OxenModel:
    product = Product(id, params, build, _price(pricing), fields, rules)
    return OxenModel(product, display_name, description, inputs, pricing)


MODELS: dict[str, OxenModel] = {
    model.id: model
    for model in (
        _model(
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
        _model(
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
        _model(
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
        _model(
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
        _model(
            "ltx-2-3-pro-audio-to-video",
            "LTX-2.3 Pro: Audio to Video",
            "ltxserve's own model id (Oxen has no audio-to-video for LTX-2.3 Pro): a video made to the "
            "given 2-20 s of audio, which it keeps, at 25 fps and 1080p, from a prompt, a first frame or "
            "both, as the LTX API makes it.",
            AudioToVideoParams,
            ("text", "image", "audio"),
            Pricing(_EDIT, per="input"),
            _audio_request,
            _AUDIO_FIELDS,
        ),
        _model(
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
