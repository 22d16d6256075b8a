"""The LTX API's endpoints, Lightricks' own shapes: one product per endpoint (text-to-video,
image-to-video, audio-to-video, extend, retake), shared by v1 (synchronous) and v2 (asynchronous).

Fields, defaults and ranges are Lightricks' documentation's: `resolution` as `WxH` from the models'
support matrix, durations and frame rates per model (Pro: 6, 8 or 10 s; Fast up to 20 s at 1080p or
720p and 24 or 25 fps), `*_uri` media as HTTPS URLs, data URIs or `ltx://uploads/<id>` from
`POST /v1/upload`. Only the LTX-2.3 models run here (LTX-2 was retired by Lightricks in August 2026).
What a model makes is written once in `pro`, shared with the Oxen and fal surfaces that resell it.
"""

from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Any, Literal

from pydantic import Field

from ltxserve import pro
from ltxserve.catalog import MAX_PROMPT, Params, Product, asked_seconds, made_seconds, per_second
from ltxserve.inputs import UPLOAD_SCHEME
from ltxserve.request import GenerationRequest, InputRules, InvalidRequestError, Pipeline

UPLOAD_PREFIX = "ltx://uploads/"
RESOLUTIONS = {
    "1920x1080": ("1080p", "16:9"), "1080x1920": ("1080p", "9:16"),
    "2560x1440": ("1440p", "16:9"), "1440x2560": ("1440p", "9:16"),
    "3840x2160": ("2160p", "16:9"), "2160x3840": ("2160p", "9:16"),
    "1280x720": ("720p", "16:9"), "720x1280": ("720p", "9:16"),
}  # fmt: skip
"""`WxH` -> (tier, aspect ratio). 720p is Fast's only (Lightricks' pricing page)."""
PRO_DURATIONS = (6, 8, 10)
FAST_DURATIONS = (6, 8, 10, 12, 14, 16, 18, 20)
ORIENTED_1080P = Literal["1920x1080", "1080x1920"]
PRICES = {"ltx-2-3-fast": {"720p": 0.04, "1080p": 0.04, "1440p": 0.08, "2160p": 0.16},
          "ltx-2-3-pro": {"720p": 0.06, "1080p": 0.06, "1440p": 0.12, "2160p": 0.24}}  # fmt: skip
"""US dollars per second of video, by model and tier; editing and audio-to-video: EDIT_PRICE."""
EDIT_PRICE = 0.10
INPUT_RULES = InputRules(
    image_url_bytes=15 << 20, media_url_bytes=32 << 20, image_data_bytes=7 << 20, media_data_bytes=15 << 20,
    upload_bytes=100 << 20,
    containers=frozenset({"png", "jpeg", "webp", "mp4", "mov", "mkv", "wav", "mp3", "m4a", "ogg"}),
    video_codecs=frozenset({"h264", "hevc"}),
    audio_codecs=frozenset({"pcm", "aac", "mp3", "opus", "vorbis", "flac"}),
)  # fmt: skip
"""Lightricks' input formats page: HTTPS URLs naming a host, no redirects; 15 MB images and 32 MB
video or audio by URL, 7 / 15 MB as data URIs, 100 MB uploads; PNG, JPEG, WebP images, MP4, MOV, MKV
video in H.264 or H.265, WAV, MP3, M4A, OGG audio (PCM, AAC, MP3, Opus, Vorbis, FLAC)."""

Uri = Annotated[str, Field(min_length=1, json_schema_extra={"format": "uri"})]
Prompt = Annotated[str, Field(max_length=MAX_PROMPT, description="What the video shows or what happens.")]


class TextToVideoParams(Params):
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT, description="What the video shows.")
    model: Literal["ltx-2-3-fast", "ltx-2-3-pro"] = Field(description="The model.")
    duration: int = Field(
        description="Seconds: 6, 8 or 10; ltx-2-3-fast also 12-20 (even) at 1080p or 720p and 24 or 25 fps."
    )
    resolution: Literal[*RESOLUTIONS] = Field(  # type: ignore[valid-type]
        description="Width x height; 1280x720 and 720x1280 with ltx-2-3-fast only."
    )
    fps: Literal[24, 25, 48, 50] = Field(24, description="Frames per second.")
    generate_audio: bool = Field(True, description="Generate synchronized audio.")
    camera_motion: (
        Literal["dolly_in", "dolly_out", "dolly_left", "dolly_right", "jib_up", "jib_down", "static",
                "focus_shift"] | None
    ) = Field(None, description="Camera movement.")  # fmt: skip


class ImageToVideoParams(TextToVideoParams):
    image_uri: Uri = Field(description="The first frame.")
    last_frame_uri: Uri | None = Field(None, description="The last frame: the video moves to it.")


class AudioToVideoParams(Params):
    audio_uri: Uri = Field(description="The audio (2-20 s): the video is made to it and keeps it.")
    image_uri: Uri | None = Field(None, description="The first frame; required without a prompt.")
    prompt: Prompt = ""
    resolution: ORIENTED_1080P | None = Field(
        None, description="By default the image's orientation (1920x1080 without an image)."
    )
    guidance_scale: float | None = Field(
        None, ge=1, le=50, description="How closely the video follows the prompt: 5, or 9 with an image."
    )
    model: Literal["ltx-2-3-pro"] = Field("ltx-2-3-pro", description="The model.")


class ExtendParams(Params):
    video_uri: Uri = Field(description="The video: at least 73 frames, 16:9 or 9:16, at most 3840x2160.")
    duration: float = Field(ge=2, le=20, description="Seconds to add.")
    prompt: Prompt = ""
    mode: Literal["end", "start"] = Field("end", description="Add at the end or at the start.")
    model: Literal["ltx-2-3-pro"] = Field("ltx-2-3-pro", description="The model.")
    context: float | None = Field(
        None,
        ge=1,
        le=20,
        description="Seconds of the video the model sees; context + duration at most 505 frames at the "
        "video's rate; by default the most that fits.",
    )
    extension_only: bool = Field(
        False,
        description="ltxserve's own: answer only the new part, instead of the whole video with it (as "
        "Lightricks answers).",
    )


class RetakeParams(Params):
    video_uri: Uri = Field(description="The video: at least 73 frames, at most 3840x2160.")
    start_time: float = Field(ge=0, description="Start of the window to regenerate, seconds.")
    duration: float = Field(
        ge=2, description="Length of the window, seconds (at least 2); cut at the video's end."
    )
    prompt: Prompt = ""
    mode: Literal["replace_audio", "replace_video", "replace_audio_and_video"] = Field(
        "replace_audio_and_video", description="What to regenerate inside the window."
    )
    resolution: ORIENTED_1080P | None = Field(
        None, description="Checked, then unused: the output keeps the video's own size here."
    )
    model: Literal["ltx-2-3-pro"] = Field("ltx-2-3-pro", description="The model.")


def media(uri: str | None, field: str) -> str | None:
    """An `ltx://uploads/<id>` reference as this server's upload reference; other URIs as given."""
    if uri is None or not uri.startswith("ltx://"):
        return uri
    if not uri.startswith(UPLOAD_PREFIX) or not uri.removeprefix(UPLOAD_PREFIX):
        raise InvalidRequestError(field, "ltx:// references are ltx://uploads/<id>, from POST /v1/upload")
    return UPLOAD_SCHEME + uri.removeprefix(UPLOAD_PREFIX)


def _video(params: Any) -> GenerationRequest:
    tier, aspect_ratio = RESOLUTIONS[params.resolution]
    fast = params.model == "ltx-2-3-fast"
    allowed = FAST_DURATIONS if fast else PRO_DURATIONS
    if params.duration not in allowed:
        raise InvalidRequestError(
            "duration", f"{params.model} makes {', '.join(map(str, allowed))} s, not {params.duration}"
        )
    if fast:
        pro.check_fast(params.duration, tier, params.fps)
    elif tier == "720p":
        raise InvalidRequestError("resolution", f"{params.resolution} is made by ltx-2-3-fast only")
    return pro.video(
        params.prompt,
        pipeline=Pipeline.DISTILLED if fast else Pipeline.TWO_STAGE,
        resolution=tier,
        aspect_ratio=aspect_ratio,
        duration=params.duration,
        fps=params.fps,
        generate_audio=params.generate_audio,
        first_frame=media(getattr(params, "image_uri", None), "image_uri"),
        last_frame=media(getattr(params, "last_frame_uri", None), "last_frame_uri"),
        camera_motion=params.camera_motion or "none",
        seed=params.seed,
    )


def _audio_video(params: Any) -> GenerationRequest:
    aspect = pro.AUTO if params.resolution is None else RESOLUTIONS[params.resolution][1]
    return pro.audio_video(
        media(params.audio_uri, "audio_uri") or "", params.prompt,
        image_url=media(params.image_uri, "image_uri"), aspect_ratio=aspect,
        guidance_scale=params.guidance_scale, seed=params.seed,
    )  # fmt: skip


def _extend(params: Any) -> GenerationRequest:
    return pro.extend(
        media(params.video_uri, "video_uri") or "", params.prompt, duration=params.duration, mode=params.mode,
        context=params.context, seed=params.seed, keep_source=not params.extension_only,
    )  # fmt: skip


def _retake(params: Any) -> GenerationRequest:
    return pro.retake(
        media(params.video_uri, "video_uri") or "", params.prompt, start=params.start_time,
        duration=params.duration, mode=params.mode, seed=params.seed, clamp=True,
    )  # fmt: skip


def _video_rate(params: Any) -> float:
    tier, _aspect = RESOLUTIONS[params.resolution]
    return PRICES[params.model][tier]


_VIDEO_PRICE = per_second(_video_rate, asked_seconds)
_AUDIO_PRICE = per_second(EDIT_PRICE, made_seconds)
"""Per second of the audio, known once the job has probed it."""
_EDIT_PRICE = per_second(EDIT_PRICE, asked_seconds)


_VIDEO_FIELDS = {"first_frame": "image_uri", "last_frame": "last_frame_uri", "camera": "camera_motion",
                 "sampling": "model"}  # fmt: skip
_AUDIO_FIELDS = {"audio": "audio_uri", "first_frame": "image_uri", "image_area": "image_uri",
                 "sampling": "guidance_scale", "duration": "audio_uri"}  # fmt: skip
_EXTEND_FIELDS = {"extend.video": "video_uri", "extend.duration": "duration", "extend.context": "context",
                  "extend": "video_uri"}  # fmt: skip
_RETAKE_FIELDS = {"retake.video": "video_uri", "retake.start": "start_time", "retake.duration": "duration",
                  "retake": "video_uri"}  # fmt: skip


def _ruled(build: Callable[[Any], GenerationRequest]) -> Callable[[Any], GenerationRequest]:
    """`build` under Lightricks' input rules."""
    return lambda params: replace(build(params), input_rules=INPUT_RULES)


ENDPOINTS: dict[str, Product] = {
    product.id: product
    for product in (
        Product("text-to-video", TextToVideoParams, _ruled(_video), _VIDEO_PRICE, _VIDEO_FIELDS),
        Product("image-to-video", ImageToVideoParams, _ruled(_video), _VIDEO_PRICE, _VIDEO_FIELDS),
        Product("audio-to-video", AudioToVideoParams, _ruled(_audio_video), _AUDIO_PRICE, _AUDIO_FIELDS),
        Product("extend", ExtendParams, _ruled(_extend), _EDIT_PRICE, _EXTEND_FIELDS),
        Product("retake", RetakeParams, _ruled(_retake), _EDIT_PRICE, _RETAKE_FIELDS),
    )
}
"""Products by the endpoint's path after /v1/ (or /v2/)."""
