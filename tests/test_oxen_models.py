"""Oxen's models: every model's defaults, limits at their boundaries, the request each makes, its
price, and the JSON schema generated from its parameters."""

import typing
from fractions import Fraction
from typing import Any

import pytest

from ltxserve.api.oxen_models import MODELS, CameraChoice
from ltxserve.catalog import ParamsError, Product
from ltxserve.media import VideoInfo
from ltxserve.media.splice import Edge
from ltxserve.request import (
    AspectRatio,
    CameraMotion,
    InvalidRequestError,
    Pipeline,
    Resolution,
    RetakeMode,
    SourceRules,
    Task,
)
from tests.measure import Made

PRO, T2V, FAST, EXTEND, AUDIO, RETAKE = (model.product for model in MODELS.values())
VIDEO = "https://example.com/clip.mp4"


def refused(spec: Product, body: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(InvalidRequestError) as error:
        spec.request(spec.validate(body))
    return error.value.field, error.value.message


def test_the_offered_models() -> None:
    assert list(MODELS) == [
        "ltx-2-3-pro",
        "ltx-2-3-pro-text-to-video",
        "ltx-2-3-fast",
        "ltx-2-3-pro-extend-video",
        "ltx-2-3-pro-audio-to-video",
        "ltx-2-3-pro-retake",
    ]


def test_audio_to_video_is_the_ltx_apis_under_ltxserves_own_id() -> None:
    request = AUDIO.request(AUDIO.validate({"audio": VIDEO, "prompt": "a singer", "aspect_ratio": "9:16"}))
    assert request.task is Task.AUDIO_TO_VIDEO and (request.width, request.height) == (1080, 1920)
    assert request.match_audio and request.fps == 25 and request.sampling.video.cfg == 5.0
    with pytest.raises(InvalidRequestError) as refused:
        AUDIO.request(AUDIO.validate({"audio": VIDEO}))
    assert refused.value.field == "prompt"


def test_pro_defaults_and_what_an_image_changes() -> None:
    request = PRO.request(PRO.validate({"prompt": "a cat"}))
    assert request.task is Task.TEXT_TO_VIDEO
    assert (request.resolution, request.aspect_ratio, request.fps) == (
        Resolution.P1080,
        AspectRatio.LANDSCAPE,
        Fraction(25),
    )
    assert request.duration is not None and request.duration.seconds == 6
    assert (
        request.generate_audio and request.camera is None and request.sampling.pipeline is Pipeline.TWO_STAGE
    )
    with_images = PRO.request(
        PRO.validate(
            {
                "prompt": "a cat",
                "image": "https://a/1.png",
                "last_frame_image": "https://a/2.png",
                "camera_motion": "jib_up",
                "resolution": "2160p",
                "aspect_ratio": "9:16",
                "fps": 50,
                "duration": 10,
                "generate_audio": False,
                "seed": 7,
            }
        )
    )
    assert with_images.task is Task.IMAGE_TO_VIDEO
    assert with_images.first_frame is not None and with_images.first_frame.image.uri == "https://a/1.png"
    assert with_images.last_frame is not None and with_images.last_frame.image.uri == "https://a/2.png"
    assert (with_images.camera, with_images.seed, with_images.generate_audio) == (
        CameraMotion.JIB_UP,
        7,
        False,
    )
    assert (with_images.resolution, with_images.aspect_ratio, with_images.fps) == (
        Resolution.P2160,
        AspectRatio.PORTRAIT,
        Fraction(50),
    )
    only_last = PRO.request(PRO.validate({"prompt": "x", "last_frame_image": "https://a/2.png"}))
    assert only_last.task is Task.IMAGE_TO_VIDEO and only_last.first_frame is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "x" * 5001}, "prompt"),
        ({}, "prompt"),
        ({"prompt": "x", "duration": 7}, "duration"),
        ({"prompt": "x", "duration": 12}, "duration"),
        ({"prompt": "x", "resolution": "720p"}, "resolution"),
        ({"prompt": "x", "fps": 30}, "fps"),
        ({"prompt": "x", "aspect_ratio": "1:1"}, "aspect_ratio"),
        ({"prompt": "x", "camera_motion": "orbit"}, "camera_motion"),
        ({"prompt": "x", "seed": -1}, "seed"),
        ({"prompt": "x", "colour": "red"}, "colour"),
        ({"prompt": "x", "image": ""}, "image"),
        ({"prompt": "x", "generate_audio": "maybe"}, "generate_audio"),
    ],
)
def test_pro_refuses_each_out_of_range_parameter_by_name(body: dict[str, Any], field: str) -> None:
    assert refused(PRO, body)[0] == field


def test_every_problem_is_reported_not_just_the_first() -> None:
    with pytest.raises(ParamsError) as error:
        PRO.validate({"prompt": "", "duration": 7, "colour": "red"})
    assert [name for name, _ in error.value.errors] == ["prompt", "duration", "colour"]
    assert dict(error.value.errors)["duration"] == "must be 6, 8 or 10"
    assert dict(error.value.errors)["colour"] == "unknown parameter"


def test_the_prompt_limit_is_inclusive() -> None:
    assert PRO.validate({"prompt": "x" * 5000})


def test_text_to_video_takes_no_images() -> None:
    assert refused(T2V, {"prompt": "x", "image": "https://a/1.png"})[0] == "image"
    assert T2V.request(T2V.validate({"prompt": "x"})).task is Task.TEXT_TO_VIDEO


@pytest.mark.parametrize(
    ("body", "ok"),
    [
        ({"duration": 10, "resolution": "2160p", "fps": 50}, True),
        ({"duration": 12, "resolution": "1440p"}, False),
        ({"duration": 20, "fps": 24}, True),
        ({"duration": 12, "fps": 48}, False),
        ({"duration": 11}, False),
        ({"duration": 22}, False),
    ],
)
def test_fast_runs_up_to_20_s_but_beyond_10_s_only_at_1080p_and_24_or_25_fps(
    body: dict[str, Any], ok: bool
) -> None:
    full = {"prompt": "x", **body}
    if ok:
        request = FAST.request(FAST.validate(full))
        assert request.sampling.pipeline is Pipeline.DISTILLED
    else:
        assert refused(FAST, full)[0] == "duration"


def test_extend_defaults_and_limits() -> None:
    request = EXTEND.request(EXTEND.validate({"video": VIDEO}))
    assert request.task is Task.EXTEND and request.extend is not None and request.prompt == ""
    assert request.extend.duration.seconds == 5 and request.extend.edge is Edge.END
    assert request.extend.context is None
    assert request.extend.rules == SourceRules(73, 3840, 2160, (AspectRatio.LANDSCAPE, AspectRatio.PORTRAIT))
    at_start = EXTEND.request(
        EXTEND.validate({"video": VIDEO, "mode": "start", "duration": 2.5, "context": 1})
    )
    assert at_start.extend is not None and at_start.extend.edge is Edge.START
    assert at_start.extend.duration.seconds == Fraction(5, 2)
    assert at_start.extend.context is not None and at_start.extend.context.seconds == 1
    for duration in (2, 20):
        assert EXTEND.validate({"video": VIDEO, "duration": duration})
    for context in (1, 20):
        assert EXTEND.validate({"video": VIDEO, "context": context})
    cases: list[tuple[dict[str, Any], str]] = [
        ({"duration": 1.99}, "duration"),
        ({"duration": 20.01}, "duration"),
        ({"context": 0.99}, "context"),
        ({"context": 20.5}, "context"),
        ({"mode": "middle"}, "mode"),
        ({"video": None}, "video"),
    ]
    for body, field in cases:
        assert refused(EXTEND, {"video": VIDEO, **body})[0] == field
    assert refused(EXTEND, {})[0] == "video"


def test_retake_defaults_and_limits() -> None:
    request = RETAKE.request(RETAKE.validate({"video": VIDEO, "prompt": "rain"}))
    assert request.retake is not None and request.sampling.pipeline is Pipeline.ONE_STAGE
    assert (request.retake.start, request.retake.duration, request.retake.mode) == (
        Fraction(0),
        Fraction(2),
        RetakeMode.REPLACE_AUDIO_AND_VIDEO,
    )
    assert request.retake.rules.min_frames == 73 and request.retake.rules.aspect_ratios == ()
    window = RETAKE.request(
        RETAKE.validate(
            {"video": VIDEO, "prompt": "x", "start_time": 1.5, "duration": 2.25, "mode": "replace_audio"}
        )
    )
    assert window.retake is not None and window.retake.start == Fraction(3, 2)
    assert window.retake.duration == Fraction(9, 4) and window.retake.mode is RetakeMode.REPLACE_AUDIO
    cases: list[tuple[dict[str, Any], str]] = [
        ({"start_time": -0.01}, "start_time"),
        ({"duration": 1.99}, "duration"),
        ({"mode": "replace_everything"}, "mode"),
        ({"prompt": ""}, "prompt"),
    ]
    for body, field in cases:
        assert refused(RETAKE, {"video": VIDEO, "prompt": "x", **body})[0] == field


def video(width: int, height: int, frames: int) -> VideoInfo:
    return VideoInfo("h264", width, height, 0, Fraction(24), frames, False, Fraction(frames, 24))


def test_source_rules_at_their_boundaries() -> None:
    rules = EXTEND.request(EXTEND.validate({"video": VIDEO})).extend.rules  # type: ignore[union-attr]
    rules.check(video(1920, 1080, 73), "extend.video")
    rules.check(video(1080, 1920, 73), "extend.video")
    rules.check(video(3840, 2160, 73), "extend.video")
    rules.check(video(854, 480, 100), "extend.video")  # 16:9 within 1 %
    for info, why in [
        (video(1920, 1080, 72), "72 frames; at least 73"),
        (video(3842, 2162, 100), "at most 3840x2160"),
        (video(1440, 1080, 100), "must be 16:9 or 9:16"),
        (video(1080, 1080, 100), "16:9 or 9:16"),
    ]:
        with pytest.raises(InvalidRequestError, match=why) as error:
            rules.check(info, "extend.video")
        assert error.value.field == "extend.video"


def test_prices() -> None:
    assert PRO.cost(PRO.validate({"prompt": "x"})) == pytest.approx(0.36)
    assert PRO.cost(PRO.validate({"prompt": "x", "resolution": "1440p", "duration": 8})) == pytest.approx(
        0.96
    )
    assert T2V.cost(T2V.validate({"prompt": "x", "resolution": "2160p", "duration": 10})) == pytest.approx(
        2.4
    )
    assert FAST.cost(FAST.validate({"prompt": "x", "duration": 20})) == pytest.approx(0.8)
    assert EXTEND.cost(EXTEND.validate({"video": VIDEO, "duration": 7.5})) == pytest.approx(0.75)
    retake = RETAKE.validate({"video": VIDEO, "prompt": "x"})
    assert RETAKE.cost(retake) is None, "priced by the input's length, known once it is probed"
    assert RETAKE.cost(retake, Made(1920, 1080, 300, 12.5)) == pytest.approx(1.25)


def test_json_schemas_come_from_the_parameters() -> None:
    schema = PRO.schema()
    properties = schema["properties"]
    assert schema["required"] == ["prompt"] and schema["additionalProperties"] is False
    assert properties["duration"]["enum"] == [6, 8, 10] and properties["duration"]["default"] == 6
    assert properties["resolution"]["enum"] == ["1080p", "1440p", "2160p"]
    assert properties["image"]["anyOf"][0]["format"] == "uri"
    assert list(properties)[-1] == "seed"
    assert FAST.schema()["properties"]["duration"]["enum"] == [6, 8, 10, 12, 14, 16, 18, 20]
    retake = RETAKE.schema()
    assert sorted(retake["required"]) == ["prompt", "video"]
    assert (
        retake["properties"]["duration"]["minimum"] == 2
        and retake["properties"]["start_time"]["minimum"] == 0
    )
    extend = EXTEND.schema()["properties"]
    assert (extend["duration"]["minimum"], extend["duration"]["maximum"]) == (2, 20)


def test_camera_choices_are_none_and_every_camera_motion() -> None:
    assert list(typing.get_args(CameraChoice)) == ["none", *(motion.value for motion in CameraMotion)]


def test_request_fields_map_back_to_parameters() -> None:
    assert PRO.param_for("first_frame.image") == "image"
    assert PRO.param_for("last_frame.image") == "last_frame_image"
    assert PRO.param_for("camera") == "camera_motion"
    assert EXTEND.param_for("extend.video") == "video" and EXTEND.param_for("extend.context") == "context"
    assert (
        RETAKE.param_for("retake.start") == "start_time" and RETAKE.param_for("retake.duration") == "duration"
    )
    assert RETAKE.param_for("prompt") == "prompt"
