"""The LTX API's products (Pro and Fast), which Oxen and fal resell under their own names: what each
makes and the rules on its source video, written once. A dialect's product reads its own field
names and calls these."""

from fractions import Fraction

from ltxserve.catalog import camera, image, seconds
from ltxserve.media.splice import Edge
from ltxserve.request import (
    AspectRatio,
    Duration,
    ExtendOptions,
    GenerationRequest,
    Guidance,
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

RETAKE_SOURCE = SourceRules(min_frames=73, max_long_side=3840, max_short_side=2160)
EXTEND_SOURCE = SourceRules(
    min_frames=73, max_long_side=3840, max_short_side=2160,
    aspect_ratios=(AspectRatio.LANDSCAPE, AspectRatio.PORTRAIT),
)  # fmt: skip
FAST_LONGEST_SHORT = 10
"""Seconds; Fast makes longer videos only at 1080p (or 720p, where offered) and 24 or 25 fps."""
AUDIO_SECONDS = (Fraction(2), Fraction(20))
"""The audio an audio-to-video request takes; the video lasts as long."""
AUDIO_VIDEO_FPS = Fraction(25)
AUDIO_VIDEO_SIZE = (1920, 1080)
"""Landscape, or portrait (1080×1920) after a portrait first frame."""
AUDIO_GUIDANCE = (5.0, 9.0)
"""The default guidance scale from text alone, and with a first frame."""
AUTO = "auto"
"""An aspect ratio taken from the image's orientation."""
ORIENTATIONS = (AspectRatio.LANDSCAPE, AspectRatio.PORTRAIT)


def _landscape_area(short_side: int) -> int:
    """Pixels of a 16:9 frame of that height (1080 -> 1920×1080)."""
    return short_side * short_side * 16 // 9


def video(
    prompt: str,
    *,
    pipeline: Pipeline,
    resolution: str,
    aspect_ratio: str,
    duration: float,
    fps: int,
    generate_audio: bool,
    first_frame: str | None = None,
    last_frame: str | None = None,
    camera_motion: str = "none",
    seed: int | None = None,
) -> GenerationRequest:
    """Text-to-video, or image-to-video when a first or last frame is given; an `aspect_ratio` of
    "auto" takes the image's orientation (16:9 or 9:16)."""
    first, last = image(first_frame), image(last_frame)
    tier = Resolution(resolution)
    by_image = aspect_ratio == AUTO
    if by_image and not (first or last):
        raise InvalidRequestError(
            "aspect_ratio", "auto takes the image's orientation: give an image, or 16:9"
        )
    return GenerationRequest(
        Task.IMAGE_TO_VIDEO if first or last else Task.TEXT_TO_VIDEO,
        prompt,
        seed=seed,
        resolution=None if by_image else tier,
        aspect_ratio=None if by_image else AspectRatio(aspect_ratio),
        image_area=_landscape_area(tier.short_side) if by_image else None,
        image_aspects=ORIENTATIONS if by_image else (),
        duration=Duration.of_seconds(duration),
        fps=Fraction(fps),
        generate_audio=generate_audio,
        first_frame=first,
        last_frame=last,
        camera=camera(camera_motion),
        sampling=Sampling(pipeline=pipeline),
    )


def audio_video(
    audio: str,
    prompt: str,
    *,
    image_url: str | None = None,
    aspect_ratio: str = AUTO,
    guidance_scale: float | None = None,
    seed: int | None = None,
) -> GenerationRequest:
    """Audio-to-video: as long as its audio (2-20 s) at 25 fps, 1920×1080 or 1080×1920 by
    `aspect_ratio` ("auto": the first frame's orientation, landscape without one); a prompt, a first
    frame or both."""
    first = image(image_url)
    if not prompt.strip() and first is None:
        raise InvalidRequestError("prompt", "give a prompt, a first frame image, or both")
    text, with_image = AUDIO_GUIDANCE
    cfg = guidance_scale if guidance_scale is not None else with_image if first else text
    by_image = aspect_ratio == AUTO and first is not None
    width, height = AUDIO_VIDEO_SIZE
    if aspect_ratio == AspectRatio.PORTRAIT:
        width, height = height, width
    return GenerationRequest(
        Task.AUDIO_TO_VIDEO,
        prompt,
        seed=seed,
        audio=MediaRef(audio),
        first_frame=first,
        width=None if by_image else width,
        height=None if by_image else height,
        image_area=width * height if by_image else None,
        image_aspects=ORIENTATIONS if by_image else (),
        match_audio=True,
        audio_seconds=AUDIO_SECONDS,
        fps=AUDIO_VIDEO_FPS,
        sampling=Sampling(pipeline=Pipeline.TWO_STAGE, video=Guidance(cfg=cfg)),
    )


def check_fast(duration: float, resolution: str, fps: int) -> None:
    if duration > FAST_LONGEST_SHORT:
        if resolution not in ("720p", "1080p"):
            raise InvalidRequestError(
                "duration", f"longer than {FAST_LONGEST_SHORT} s is made at 1080p (or 720p) only"
            )
        if fps not in (24, 25):
            raise InvalidRequestError(
                "duration", f"longer than {FAST_LONGEST_SHORT} s is made at 24 or 25 fps only"
            )


def extend(
    video: str,
    prompt: str,
    *,
    duration: float,
    mode: str,
    context: float | None,
    seed: int | None = None,
    keep_source: bool = True,
) -> GenerationRequest:
    return GenerationRequest(
        Task.EXTEND,
        prompt,
        seed=seed,
        extend=ExtendOptions(
            MediaRef(video),
            Duration.of_seconds(seconds(duration)),
            Edge(mode),
            Duration.of_seconds(seconds(context)) if context is not None else None,
            rules=EXTEND_SOURCE,
            keep_source=keep_source,
            one_window=True,
        ),
    )


def retake(
    video: str,
    prompt: str,
    *,
    start: float,
    duration: float,
    mode: str,
    seed: int | None = None,
    clamp: bool = False,
) -> GenerationRequest:
    return GenerationRequest(
        Task.RETAKE,
        prompt,
        seed=seed,
        retake=RetakeOptions(
            MediaRef(video),
            seconds(start),
            seconds(duration),
            RetakeMode(mode),
            rules=RETAKE_SOURCE,
            clamp=clamp,
            one_window=True,
        ),
        sampling=Sampling(pipeline=Pipeline.ONE_STAGE),
    )
