"""fal.ai's LTX-2.3 endpoints, each a catalog Product: parameter names, defaults, ranges and pricing
exactly as fal's model pages list them.

Three families:
- the 22B open-weights endpoints (`fal-ai/ltx-2.3-22b/...`, with `/lora` variants): every sampling
  knob, sizes in pixels and lengths in frames, priced per megapixel of generated video;
- the distilled ones (`fal-ai/ltx-2.3-22b/distilled/...`): the same inputs, no sampling knobs;
- the Pro endpoints (`fal-ai/ltx-2.3/...`, with `/fast` variants), backed on fal by the LTX API:
  tiers, seconds and fixed frame rates, priced per second.

Each field's rule is written once (`_FIELD`); an endpoint lists the fields it takes, in its page's
order. What a field does here is in its description; the few with no model behind them on this
server say so there, and again in the job's logs.
"""

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from ltxserve import pro
from ltxserve.catalog import (
    MAX_PROMPT,
    Made,
    Params,
    Product,
    asked_seconds,
    camera,
    image,
    made_seconds,
    per_second,
    seconds,
)
from ltxserve.media import EncodeOptions, OutputFormat, Quality, WriteMode
from ltxserve.media.splice import Edge
from ltxserve.request import (
    Duration,
    ExtendOptions,
    GenerationRequest,
    Guidance,
    InvalidRequestError,
    LoraChoice,
    MediaRef,
    Pipeline,
    Sampling,
    Scheduler,
    Task,
)

NEGATIVE_PROMPT = (
    "news broadcast, 3d animation, computer graphics, pc game, console game, video game, cartoon, "
    "childish, watermark, logo, text, on screen text, subtitles, titles, signature, slowmo, static"
)
VIDEO_SIZES = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}
"""fal's named image sizes, width × height."""
AUTO_AREA = 1024 * 576
"""Pixels of a video sized after its image ("auto"): the image's aspect ratio at the area of the
default size, landscape_16_9."""
OUTPUT_TYPES = {
    "X264 (.mp4)": OutputFormat.MP4,
    "VP9 (.webm)": OutputFormat.WEBM,
    "PRORES4444 (.mov)": OutputFormat.MOV,
    "GIF (.gif)": OutputFormat.GIF,
}
ACCELERATION = {"none": 0, "regular": 1, "high": 2, "full": 3}
"""fal's acceleration levels as the steps between two model runs (`Sampling.step_reuse`)."""
NOT_MODELLED = {
    "enable_safety_checker": "no safety checker runs on this server: outputs are not filtered",
}
"""Fields accepted for compatibility whose fal behaviour this server does not have: each job's logs
repeat this when the field asks for it."""


class ImageSize(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    width: int = Field(512, ge=64, le=3840, description="Width in pixels.")
    height: int = Field(512, ge=64, le=3840, description="Height in pixels.")


class LoraInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(description="URL or path of the LoRA weights; empty for none.")
    weight_name: str | None = Field(None, description="The weights file inside a repository path.")
    scale: float = Field(1, ge=0, le=4, description="How strongly the LoRA is applied.")


Scale = Annotated[float, Field(ge=0, le=1)]
Camera = Literal["dolly_in", "dolly_out", "dolly_left", "dolly_right", "jib_up", "jib_down", "static", "none"]
VideoSize = (
    ImageSize
    | Literal[
        "auto", "square_hd", "square", "portrait_4_3", "portrait_16_9", "landscape_4_3", "landscape_16_9"
    ]
)

_FIELD: dict[str, tuple[Any, Any]] = {
    "prompt": (
        str,
        Field(min_length=1, max_length=MAX_PROMPT, description="The prompt to generate the video from."),
    ),
    "video_url": (str, Field(min_length=1, description="The URL of the video to extend.")),
    "image_url": (str, Field(min_length=1, description="The URL of the image to start the video from.")),
    "end_image_url": (
        str | None,
        Field(None, description="The URL of the image to use as the end of the video."),
    ),
    "audio_url": (str, Field(min_length=1, description="The URL of the audio to generate the video from.")),
    "first_image_url": (
        str | None,
        Field(None, description="Optional URL of an image to use as the first frame of the video."),
    ),
    "match_audio_length": (
        bool,
        Field(True, description="Make as many frames as the audio lasts at `fps`; false: num_frames."),
    ),
    "num_frames": (int, Field(121, ge=9, le=481, description="The number of frames to generate.")),
    "video_size": (VideoSize, Field("landscape_16_9", description="The size of the generated video.")),
    "auto_video_size": (
        VideoSize,
        Field(
            "auto",
            description="The size of the generated video; auto: a video's own, an image's shape. An "
            "input video asked at another size is scaled to cover it and centre-cropped first.",
        ),
    ),
    "generate_audio": (bool, Field(True, description="Whether to generate audio for the video.")),
    "use_multiscale": (
        bool,
        Field(
            True, description="Generate at half size first, then refine at the requested size (two stages)."
        ),
    ),
    "match_input_fps": (
        bool,
        Field(
            True,
            description="Match the output FPS to the input video's FPS instead of `fps`; when false, the "
            "input is re-timed to `fps` first (each frame the one on screen at its time).",
        ),
    ),
    "fps": (float, Field(24, ge=1, le=60, description="The frames per second of the generated video.")),
    "num_inference_steps": (int, Field(15, ge=8, le=50, description="The number of inference steps to use.")),
    "video_cfg_scale": (
        float,
        Field(3, ge=1, le=20, description="Classifier-free guidance scale for the video."),
    ),
    "video_stg_scale": (
        float,
        Field(1, ge=0, le=20, description="Spatiotemporal guidance scale for the video."),
    ),
    "video_rescaling_scale": (
        float,
        Field(0.85, ge=0, le=1, description="Guidance rescaling for the video."),
    ),
    "video_modality_scale": (
        float,
        Field(3, ge=0, le=10, description="Audio-to-video cross-modal guidance."),
    ),
    "audio_cfg_scale": (
        float,
        Field(7, ge=1, le=20, description="Classifier-free guidance scale for the audio."),
    ),
    "audio_stg_scale": (
        float,
        Field(0, ge=0, le=20, description="Spatiotemporal guidance scale for the audio."),
    ),
    "audio_rescaling_scale": (float, Field(0.7, ge=0, le=1, description="Guidance rescaling for the audio.")),
    "audio_modality_scale": (
        float,
        Field(3, ge=0, le=10, description="Video-to-audio cross-modal guidance."),
    ),
    "gradient_estimation_gamma": (
        float,
        Field(
            0, ge=0, le=10, description="The gamma of gradient estimation during denoising; 0 disables it."
        ),
    ),
    "use_restart_sampling": (
        bool,
        Field(
            True,
            description="Inject fresh noise at each denoising step of the first pass (ltx-core's SDE "
            "step: a move below the next noise level, then noise of half that level back up to it).",
        ),
    ),
    "scheduler": (
        Literal["ltx2", "linear_quadratic", "beta"],
        Field("beta", description="The scheduler to use."),
    ),
    "acceleration": (
        Literal[*ACCELERATION],
        Field(
            "none",
            description="Fewer model runs for some quality: the first pass runs the model on every step "
            "(none), one step in 2 (regular), in 3 (high) or in 4 (full); the steps between reuse the "
            "last prediction.",
        ),
    ),
    "camera_lora": (Camera, Field("none", description="The camera LoRA that moves the camera.")),
    "camera_lora_scale": (Scale, Field(1, description="The scale of the camera LoRA.")),
    "negative_prompt": (
        str,
        Field(NEGATIVE_PROMPT, max_length=MAX_PROMPT, description="What to steer away from."),
    ),
    "enable_prompt_expansion": (
        bool,
        Field(
            True,
            description="Have Gemma rewrite the prompt first (LTX's enhancer); the output's prompt is it.",
        ),
    ),
    "enable_safety_checker": (bool, Field(True, description=NOT_MODELLED["enable_safety_checker"])),
    "video_output_type": (
        Literal["X264 (.mp4)", "VP9 (.webm)", "PRORES4444 (.mov)", "GIF (.gif)"],
        Field("X264 (.mp4)", description="The container and codec of the generated video."),
    ),
    "video_quality": (
        Literal["low", "medium", "high", "maximum"],
        Field("high", description="The quality of the generated video."),
    ),
    "video_write_mode": (
        Literal["fast", "balanced", "small"],
        Field("balanced", description="Encoding speed against file size."),
    ),
    "sync_mode": (
        bool,
        Field(
            False,
            description="Return the video as a data URI in the result instead of a link; the server "
            "keeps no copy once it has answered it.",
        ),
    ),
    "loras": (
        list[LoraInput],
        Field(
            description="The LoRAs to use, by URL (fetched once, kept by content) or by name; empty: none."
        ),
    ),
    "distill_lora_first_pass_scale": (
        Scale,
        Field(0.2, description="The distilled LoRA's scale in the first (half-size) pass; 0 disables it."),
    ),
    "distill_lora_second_pass_scale": (
        Scale,
        Field(0.5, description="The distilled LoRA's scale in the second (refining) pass."),
    ),
    "extend_direction": (
        Literal["forward", "backward"],
        Field("forward", description="forward extends from the end of the video, backward from its start."),
    ),
    "num_context_frames": (
        int,
        Field(25, ge=0, le=121, description="The number of the video's frames the model sees as context."),
    ),
    "video_strength": (
        Scale,
        Field(1, description="Video conditioning strength; lower gives the model freedom."),
    ),
    "audio_strength": (
        Scale,
        Field(1, description="Audio conditioning strength; lower gives the model freedom."),
    ),
    "end_image_strength": (Scale, Field(1, description="The strength of the end image.")),
    "image_strength": (Scale, Field(1, description="The strength of the start image.")),
    "interpolation_direction": (
        Literal["forward", "backward"],
        Field(
            "forward",
            description="forward: from image_url to end_image_url; backward: the other way round.",
        ),
    ),
    # the Pro endpoints
    "duration": (Literal[6, 8, 10], Field(6, description="The duration of the video in seconds.")),
    "fast_duration": (
        Literal[6, 8, 10, 12, 14, 16, 18, 20],
        Field(6, description="The duration in seconds; above 10 s only at 1080p and 25 fps."),
    ),
    "resolution": (
        Literal["1080p", "1440p", "2160p"],
        Field("1080p", description="The resolution of the video."),
    ),
    "aspect_ratio": (Literal["16:9", "9:16"], Field("16:9", description="The aspect ratio of the video.")),
    "auto_aspect_ratio": (
        Literal["auto", "16:9", "9:16"],
        Field("auto", description="The aspect ratio of the video; auto: the image's orientation."),
    ),
    "pro_fps": (Literal[24, 25, 48, 50], Field(25, description="The frames per second of the video.")),
    "extend_duration": (float, Field(5, ge=2, le=20, description="Seconds to add.")),
    "mode": (Literal["end", "start"], Field("end", description="Add at the end or at the start.")),
    "context": (
        float | None,
        Field(
            None,
            ge=1,
            le=20,
            description="Seconds of the video the model sees; by default the most that fits.",
        ),
    ),
    "start_time": (float, Field(ge=0, le=20, description="Start of the window to regenerate, seconds.")),
    "retake_duration": (
        float,
        Field(5, ge=2, le=20, description="Length of the window to regenerate, seconds."),
    ),
    "retake_mode": (
        Literal["replace_audio", "replace_video", "replace_audio_and_video"],
        Field("replace_audio_and_video", description="What to regenerate inside the window."),
    ),
    "optional_prompt": (
        str,
        Field("", max_length=MAX_PROMPT, description="The prompt; a prompt, an image_url or both."),
    ),
    "pro_audio_url": (
        str,
        Field(min_length=1, description="The audio (2-20 s) the video follows and keeps; it lasts as long."),
    ),
    "guidance_scale": (
        float | None,
        Field(
            None,
            ge=1,
            le=20,
            description="How closely the video follows the prompt; by default 5, or 9 with an image.",
        ),
    ),
}

_RENAMED = {
    "optional_prompt": "prompt",
    "auto_aspect_ratio": "aspect_ratio",
    "pro_audio_url": "audio_url",
    "auto_video_size": "video_size",
    "first_image_url": "image_url",
    "fast_duration": "duration",
    "pro_fps": "fps",
    "extend_duration": "duration",
    "retake_duration": "duration",
}
"""Fields whose rule differs between endpoints: the key is the rule, the value the name fal uses."""

_SAMPLING = (
    "generate_audio", "use_multiscale", "fps", "num_inference_steps", "video_cfg_scale", "video_stg_scale",
    "video_rescaling_scale", "video_modality_scale", "audio_cfg_scale", "audio_stg_scale",
    "audio_rescaling_scale", "audio_modality_scale", "gradient_estimation_gamma", "use_restart_sampling",
    "scheduler", "acceleration", "camera_lora", "camera_lora_scale", "negative_prompt", "seed",
    "enable_prompt_expansion", "enable_safety_checker", "video_output_type", "video_quality",
    "video_write_mode", "sync_mode",
)  # fmt: skip
_DISTILL = ("distill_lora_first_pass_scale", "distill_lora_second_pass_scale")
_EXTEND = ("extend_direction", "num_context_frames", "video_strength", "audio_strength", "end_image_strength")


def _params(name: str, fields: Sequence[str]) -> type[Params]:
    definitions: dict[str, Any] = {
        _RENAMED.get(field, field): _FIELD[field] for field in fields if field != "seed"
    }
    return create_model(name, __base__=Params, **definitions)


# --- requests ---------------------------------------------------------------------------------------


def _loras(params: Any) -> tuple[LoraChoice, ...]:
    """LoRAs by URL (fetched by the worker, kept by content) or by the name of one on this server;
    an empty path is none, as fal's examples send it. Never a path on this server's disk."""
    chosen = []
    for index, lora in enumerate(getattr(params, "loras", ())):
        if not lora.path:
            continue
        choice = LoraChoice(lora.path, lora.scale)
        if lora.weight_name is not None:
            raise InvalidRequestError(
                f"loras.{index}.weight_name",
                "give the weights file's own URL as path; repositories are not read",
            )
        if not choice.is_remote and ("/" in lora.path or lora.path.startswith(".")):
            raise InvalidRequestError(
                f"loras.{index}.path",
                "a URL (https, data: or upload://) or the name of a LoRA on this server",
            )
        chosen.append(choice)
    return tuple(chosen)


def _output(params: Any) -> EncodeOptions:
    return EncodeOptions(
        OUTPUT_TYPES[params.video_output_type],
        Quality(params.video_quality),
        WriteMode(params.video_write_mode),
    )


def _sampling(params: Any, distilled: bool) -> Sampling:
    """The dev model's pipelines with every knob, or the distilled one, which has none to turn."""
    if distilled:
        if not params.use_multiscale:
            raise InvalidRequestError(
                "use_multiscale", "the distilled pipeline makes half size, then refines: use true"
            )
        return Sampling(pipeline=Pipeline.DISTILLED, step_reuse=ACCELERATION[params.acceleration] or None)
    multiscale = params.use_multiscale
    scales = (params.distill_lora_first_pass_scale, params.distill_lora_second_pass_scale)
    return Sampling(
        pipeline=Pipeline.TWO_STAGE if multiscale else Pipeline.ONE_STAGE,
        steps=params.num_inference_steps,
        scheduler=Scheduler(params.scheduler),
        video=Guidance(params.video_cfg_scale, params.video_stg_scale, params.video_rescaling_scale,
                       params.video_modality_scale),
        audio=Guidance(params.audio_cfg_scale, params.audio_stg_scale, params.audio_rescaling_scale,
                       params.audio_modality_scale),
        distilled_lora_scales=scales if multiscale else None,
        gradient_estimation_gamma=params.gradient_estimation_gamma or None,
        noise_injection=params.use_restart_sampling,
        step_reuse=ACCELERATION[params.acceleration] or None,
    )  # fmt: skip


def _size(video_size: Any) -> tuple[int, int]:
    if isinstance(video_size, ImageSize):
        return video_size.width, video_size.height
    return VIDEO_SIZES[video_size]


def _known_size(params: Any) -> tuple[int, int] | None:
    """The size `params` decide alone; None when an input's decides it ("auto" with an image or
    video). Audio-to-video without an image is made at the default size."""
    if params.video_size != "auto":
        return _size(params.video_size)
    images = getattr(params, "image_url", None) or getattr(params, "end_image_url", None)
    if getattr(params, "audio_url", None) and not images:
        return VIDEO_SIZES["landscape_16_9"]
    return None


def _dev_video(params: Any, distilled: bool) -> GenerationRequest:
    """Text-, image- or audio-to-video, by the media the endpoint takes."""
    first = image(getattr(params, "image_url", None), getattr(params, "image_strength", 1.0))
    last = image(getattr(params, "end_image_url", None), getattr(params, "end_image_strength", 1.0))
    if getattr(params, "interpolation_direction", "forward") == "backward":
        first, last = last, first
    audio = getattr(params, "audio_url", None)
    size, area = _known_size(params), None
    if size is None and not (first or last):
        raise InvalidRequestError("video_size", "auto takes the size of an input image or video; name a size")
    if size is None:
        area = AUTO_AREA
    task = Task.AUDIO_TO_VIDEO if audio else Task.IMAGE_TO_VIDEO if first or last else Task.TEXT_TO_VIDEO
    match_audio = audio is not None and params.match_audio_length
    return GenerationRequest(
        task,
        params.prompt,
        negative_prompt=getattr(params, "negative_prompt", None),
        seed=params.seed,
        width=size[0] if size else None,
        height=size[1] if size else None,
        image_area=area,
        first_frame=first,
        last_frame=last,
        audio=MediaRef(audio) if audio else None,
        audio_strength=getattr(params, "audio_strength", 1.0),
        duration=None if match_audio else Duration.of_frames(params.num_frames),
        match_audio=match_audio,
        fps=seconds(params.fps),
        generate_audio=params.generate_audio,
        sampling=_sampling(params, distilled),
        camera=camera(params.camera_lora),
        camera_scale=params.camera_lora_scale,
        loras=_loras(params),
        output=_output(params),
        expand_prompt=params.enable_prompt_expansion,
    )


def _dev_extend(params: Any, distilled: bool) -> GenerationRequest:
    """An extension at the input's rate and size, or at `fps` / `video_size`: the input is then
    re-timed and re-sized to them first, and the whole output is at them."""
    end_image = image(params.end_image_url, params.end_image_strength)
    return GenerationRequest(
        Task.EXTEND,
        params.prompt,
        negative_prompt=getattr(params, "negative_prompt", None),
        seed=params.seed,
        generate_audio=params.generate_audio,
        extend=ExtendOptions(
            MediaRef(params.video_url),
            Duration.of_frames(params.num_frames),
            Edge.END if params.extend_direction == "forward" else Edge.START,
            Duration.of_frames(params.num_context_frames),
            video_strength=params.video_strength,
            audio_strength=params.audio_strength,
            end_image=end_image,
            fps=None if params.match_input_fps else seconds(params.fps),
            size=None if params.video_size == "auto" else _size(params.video_size),
            one_window=True,
        ),
        sampling=_sampling(params, distilled),
        camera=camera(params.camera_lora),
        camera_scale=params.camera_lora_scale,
        loras=_loras(params),
        output=_output(params),
        expand_prompt=params.enable_prompt_expansion,
    )


def _pro_video(params: Any, pipeline: Pipeline) -> GenerationRequest:
    return pro.video(
        params.prompt,
        pipeline=pipeline,
        resolution=params.resolution,
        aspect_ratio=params.aspect_ratio,
        duration=params.duration,
        fps=params.fps,
        generate_audio=params.generate_audio,
        first_frame=getattr(params, "image_url", None),
        last_frame=getattr(params, "end_image_url", None),
        seed=params.seed,
    )


def _pro_audio_video(params: Any) -> GenerationRequest:
    return pro.audio_video(
        params.audio_url, params.prompt, image_url=params.image_url, aspect_ratio=params.aspect_ratio,
        guidance_scale=params.guidance_scale, seed=params.seed,
    )  # fmt: skip


def _fast_rules(params: Any) -> None:
    pro.check_fast(params.duration, params.resolution, params.fps)


def _pro_extend(params: Any) -> GenerationRequest:
    return pro.extend(
        params.video_url, params.prompt, duration=params.duration, mode=params.mode, context=params.context,
        seed=params.seed,
    )  # fmt: skip


def _pro_retake(params: Any) -> GenerationRequest:
    return pro.retake(
        params.video_url, params.prompt, start=params.start_time, duration=params.duration,
        mode=params.retake_mode, seed=params.seed,
    )  # fmt: skip


# --- prices -----------------------------------------------------------------------------------------


def _per_megapixel(
    rate: float, frames_of: Callable[[Any, Made | None], int | None]
) -> Callable[[Any, Made | None], float | None]:
    """fal's rule: rate × megapixels of generated video (width × height × frames), rounded up to the
    hundredth of a cent. A size or length the input decides is known once the job has run."""

    def price(params: Any, made: Made | None) -> float | None:
        size, frames = _known_size(params), frames_of(params, made)
        if size is None and made is not None and made.width is not None and made.height is not None:
            size = made.width, made.height
        if size is None or frames is None:
            return None
        width, height = size
        megapixels = Fraction(width * height * frames, 1_000_000)
        return math.ceil(megapixels * Fraction(str(rate)) * 10_000) / 10_000

    return price


def _frames_asked(params: Any, _: Made | None) -> int:
    return int(params.num_frames)


def _frames_made(params: Any, made: Made | None) -> int | None:
    """An audio-to-video's frames: as many as its audio lasts, unless num_frames is asked for."""
    if not params.match_audio_length:
        return int(params.num_frames)
    return None if made is None else made.frames


def _rate(by_resolution: Mapping[str, float]) -> Callable[[Any], float]:
    return lambda params: by_resolution[params.resolution]


_PRO_TEXT_RATES = {"1080p": 0.08, "1440p": 0.16, "2160p": 0.32}
_PRO_IMAGE_RATES = {"1080p": 0.06, "1440p": 0.12, "2160p": 0.24}
_FAST_RATES = {"1080p": 0.04, "1440p": 0.08, "2160p": 0.16}
"""$ per second from fal's pages: Pro text-to-video, Pro image-to-video, Fast text-to-video (Fast
image-to-video at Fast's rates)."""


# --- the endpoints ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FalEndpoint:
    """One fal endpoint: the product it runs and what fal's model page says of it."""

    product: Product
    title: str
    category: str

    @property
    def id(self) -> str:
        return self.product.id


_DEV_SAMPLING_FIELDS = {
    "sampling": "use_multiscale", "sampling.steps": "num_inference_steps", "sampling.scheduler": "scheduler",
    "sampling.distilled_lora_scales": "distill_lora_first_pass_scale",
    "sampling.gradient_estimation_gamma": "gradient_estimation_gamma",
    "sampling.step_reuse": "acceleration", "sampling.noise_injection": "use_restart_sampling",
    **{f"sampling.{modality}.{knob}": f"{modality}_{name}_scale"
       for modality in ("video", "audio")
       for knob, name in (("cfg", "cfg"), ("stg", "stg"), ("rescale", "rescaling"), ("modality", "modality"))
    },
    "camera": "camera_lora", "camera_scale": "camera_lora_scale",
    "output": "video_output_type", "negative_prompt": "negative_prompt",
}  # fmt: skip
_DEV_VIDEO_FIELDS = {**_DEV_SAMPLING_FIELDS, "width": "video_size", "height": "video_size",
                     "image_area": "video_size", "duration": "num_frames", "fps": "fps",
                     "first_frame": "image_url", "last_frame": "end_image_url",
                     "first_frame.strength": "image_strength", "last_frame.strength": "end_image_strength",
                     "audio_strength": "audio_strength"}  # fmt: skip
_DEV_EXTEND_FIELDS = {
    **_DEV_SAMPLING_FIELDS, "extend.video": "video_url", "extend.duration": "num_frames",
    "extend.context": "num_context_frames", "extend.end_image.strength": "end_image_strength",
    "extend.end_image": "end_image_url", "extend.video_strength": "video_strength",
    "extend.audio_strength": "audio_strength", "extend": "video_url", "extend.fps": "fps",
    "extend.size": "video_size",
}  # fmt: skip
_PRO_VIDEO_FIELDS = {"first_frame": "image_url", "last_frame": "end_image_url", "image_area": "aspect_ratio"}
_PRO_AUDIO_FIELDS = {"audio": "audio_url", "first_frame": "image_url", "image_area": "image_url",
                     "sampling": "guidance_scale", "duration": "audio_url"}  # fmt: skip
_PRO_EXTEND_FIELDS = {"extend.video": "video_url", "extend.duration": "duration", "extend.context": "context",
                      "extend": "video_url"}  # fmt: skip
_PRO_RETAKE_FIELDS = {"retake.video": "video_url", "retake.start": "start_time",
                      "retake.duration": "duration", "retake": "video_url"}  # fmt: skip


@dataclass(frozen=True)
class _Family:
    """fal's open-weights endpoints of one model: where they live, the knobs they take, their rates."""

    base: str
    title: str
    model: str
    """How its parameter models are named (the JSON schemas' titles)."""
    knobs: tuple[str, ...]
    """The sampling and output fields, in the pages' order (extend-video puts its own first)."""
    rate: float
    lora_rate: float
    distilled: bool
    tasks: tuple[str, ...]


_DISTILLED_KNOBS = (
    "generate_audio", "use_multiscale", "fps", "acceleration", "camera_lora", "camera_lora_scale", "seed",
    "enable_prompt_expansion", "enable_safety_checker", "video_output_type", "video_quality",
    "video_write_mode", "sync_mode",
)  # fmt: skip
_FAMILIES = (
    _Family("fal-ai/ltx-2.3-22b", "LTX-2.3", "", _SAMPLING, 0.001605, 0.001805, False,
            ("text-to-video", "image-to-video", "audio-to-video", "extend-video")),
    _Family("fal-ai/ltx-2.3-22b/distilled", "LTX-2.3 Distilled", "Distilled", _DISTILLED_KNOBS, 0.001205,
            0.001405, True,
            ("text-to-video", "image-to-video", "audio-to-video")),
)  # fmt: skip
"""$ per megapixel from fal's pages (extend-video and its /lora, image-to-video/lora, the distilled
audio-to-video and text-to-video/lora); each family's other endpoints at the same rates."""
_INPUTS = {
    "text-to-video": ("prompt", "num_frames", "video_size"),
    "image-to-video": ("prompt", "image_url", "end_image_url", "num_frames", "auto_video_size",
                       "image_strength", "end_image_strength", "interpolation_direction"),
    "audio-to-video": ("prompt", "audio_url", "first_image_url", "end_image_url", "match_audio_length",
                       "num_frames", "auto_video_size", "audio_strength", "image_strength",
                       "end_image_strength"),
}  # fmt: skip
_WHAT = {"text-to-video": "text", "image-to-video": "images", "audio-to-video": "audio, text and images"}


def _open_weights_endpoints() -> list[FalEndpoint]:
    endpoints = []
    for family in _FAMILIES:
        for task in family.tasks:
            for lora in (False, True):
                endpoints.append(_open_weights_endpoint(family, task, lora))
    return endpoints


def _open_weights_endpoint(family: _Family, task: str, lora: bool) -> FalEndpoint:
    own: tuple[str, ...] = () if family.distilled else _DISTILL
    own = ("loras", *own) if lora else own
    name = family.model + task.title().replace("-", "") + ("LoraParams" if lora else "Params")
    rate = family.lora_rate if lora else family.rate
    with_lora = " and custom LoRA" if lora else ""
    distilled = family.distilled
    if task == "extend-video":
        fields = ("prompt", "video_url", "end_image_url", "num_frames", "auto_video_size", "generate_audio",
                  "use_multiscale", "match_input_fps", *family.knobs[2:], *own, *_EXTEND)  # fmt: skip
        product = Product(
            f"{family.base}/{task}{'/lora' if lora else ''}",
            _params(name, fields),
            lambda params: _dev_extend(params, distilled),
            _per_megapixel(rate, _frames_asked),
            _DEV_EXTEND_FIELDS,
        )
        return FalEndpoint(
            product, f"Extend video with audio using {family.title}{with_lora}", "video-to-video"
        )
    fields = (*_INPUTS[task], *family.knobs, *own)
    product = Product(
        f"{family.base}/{task}{'/lora' if lora else ''}",
        _params(name, fields),
        lambda params: _dev_video(params, distilled),
        _per_megapixel(rate, _frames_made if task == "audio-to-video" else _frames_asked),
        {**_DEV_VIDEO_FIELDS, "audio": "audio_url", "duration": "audio_url"}
        if task == "audio-to-video" else _DEV_VIDEO_FIELDS,
    )  # fmt: skip
    return FalEndpoint(
        product, f"Generate video with audio from {_WHAT[task]} using {family.title}{with_lora}", task
    )


def _pro_endpoints() -> list[FalEndpoint]:
    text = ("prompt", "duration", "resolution", "aspect_ratio", "pro_fps", "generate_audio")
    fast_text = ("prompt", "fast_duration", "resolution", "aspect_ratio", "pro_fps", "generate_audio")
    image = ("prompt", "image_url", "end_image_url", "duration", "resolution", "auto_aspect_ratio", "pro_fps",
             "generate_audio")  # fmt: skip
    fast_image = ("prompt", "image_url", "end_image_url", "fast_duration", "resolution", "auto_aspect_ratio",
                  "pro_fps", "generate_audio")  # fmt: skip
    base = "fal-ai/ltx-2.3"

    def video(
        name: str, fields: tuple[str, ...], fast: bool, title: str, rates: dict[str, float]
    ) -> FalEndpoint:
        params = _params("Pro" + name.title().replace("-", "").replace("/", "") + "Params", fields)
        pipeline = Pipeline.DISTILLED if fast else Pipeline.TWO_STAGE
        return FalEndpoint(
            Product(
                f"{base}/{name}",
                params,
                lambda params: _pro_video(params, pipeline),
                per_second(_rate(_FAST_RATES if fast else rates), asked_seconds),
                _PRO_VIDEO_FIELDS,
                _fast_rules if fast else None,
            ),
            title,
            "image-to-video" if "image_url" in fields else "text-to-video",
        )

    return [
        video("text-to-video", text, False, "LTX-2.3 Pro text to video", _PRO_TEXT_RATES),
        video("image-to-video", image, False, "LTX-2.3 Pro image to video", _PRO_IMAGE_RATES),
        video("text-to-video/fast", fast_text, True, "LTX-2.3 Fast text to video", _FAST_RATES),
        video("image-to-video/fast", fast_image, True, "LTX-2.3 Fast image to video", _FAST_RATES),
        FalEndpoint(
            Product(
                f"{base}/audio-to-video",
                _params(
                    "ProAudioToVideoParams",
                    (
                        "optional_prompt",
                        "pro_audio_url",
                        "first_image_url",
                        "auto_aspect_ratio",
                        "guidance_scale",
                    ),
                ),
                _pro_audio_video,
                per_second(0.10, made_seconds),
                _PRO_AUDIO_FIELDS,
            ),
            "LTX-2.3 Pro audio to video",
            "audio-to-video",
        ),
        FalEndpoint(
            Product(
                f"{base}/extend-video",
                _params(
                    "ProExtendVideoParams",
                    ("video_url", "optional_prompt", "extend_duration", "mode", "context"),
                ),
                _pro_extend,
                per_second(0.10, asked_seconds),
                _PRO_EXTEND_FIELDS,
            ),
            "LTX-2.3 Pro extend video",
            "video-to-video",
        ),
        FalEndpoint(
            Product(
                f"{base}/retake-video",
                _params(
                    "ProRetakeVideoParams",
                    ("video_url", "prompt", "start_time", "retake_duration", "retake_mode"),
                ),
                _pro_retake,
                per_second(0.10, made_seconds),
                _PRO_RETAKE_FIELDS,
            ),
            "LTX-2.3 Pro retake video",
            "video-to-video",
        ),
    ]


ENDPOINTS: dict[str, FalEndpoint] = {
    endpoint.id: endpoint for endpoint in (*_open_weights_endpoints(), *_pro_endpoints())
}
