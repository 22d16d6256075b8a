"""OpenAI's videos shape: one product whose `model`, `seconds`, `size` and `input_reference` are
OpenAI's, and whose every other field is ltxserve's own request, passed as extra body fields (as
vLLM-Omni passes its own) and validated by the same rules as every surface's requests.

`seconds` and `size` map onto the request's length and size; `model` picks the pipeline (OpenAI's own
names are taken as the nearest: `sora-2` the fast one, `sora-2-pro` the full one); where the request's
own terms are given as well (`duration`, a size by `width`/`height`, `resolution`, `aspect_ratio` or
`image_area`, `sampling.pipeline`), they are what is made. An `input_reference` image is the first
frame. The task follows from the fields given: `extend` or `retake` edit a video, `audio` makes
audio-to-video, an image image-to-video, else text-to-video.
Media fields take a URI string (https, data:, upload://) where the request's JSON has `{"uri": ...}`;
lengths take seconds as numbers.
"""

import dataclasses
import typing
from fractions import Fraction
from typing import Any

from pydantic import ConfigDict, Field, ValidationError

from ltxserve.api.errors import quoted
from ltxserve.catalog import MAX_PROMPT, Made, Params, ParamsError, Product
from ltxserve.request import (
    INTERNAL_FIELDS,
    MEDIA_FIELDS,
    GenerationRequest,
    InvalidRequestError,
    Pipeline,
    Task,
    request_from_json,
)

MODELS = {"ltx-2-3-fast": Pipeline.DISTILLED, "ltx-2-3-pro": Pipeline.TWO_STAGE}
ALIASES = {"sora-2": "ltx-2-3-fast", "sora-2-pro": "ltx-2-3-pro"}
"""OpenAI's model names, so that a client's defaults run here unchanged."""
DEFAULT_MODEL = "ltx-2-3-fast"
DEFAULT_SECONDS = "4"
DEFAULT_SIZE = "720x1280"
PRICES = {"ltx-2-3-fast": 0.04, "ltx-2-3-pro": 0.06}
"""US dollars per second of video (the LTX API's 1080p rates)."""
_MEDIA_PATHS = tuple(tuple(field.split(".")) for field in MEDIA_FIELDS)
_LENGTH_PATHS = (("duration",), ("extend", "duration"), ("extend", "context"))
_EDITS = {"extend": Task.EXTEND, "retake": Task.RETAKE}
_SIZE_TERMS = ("width", "height", "resolution", "aspect_ratio", "image_area")
"""The request's own ways of giving its size, any of which stands instead of `size`."""
_SIDE_DIGITS = 5
"""A side of a `size` is at most 99999 pixels (the engine refuses far smaller ones itself)."""
REMIXED = "remixed_from_video_id"
"""Kept with a remix's parameters, for its video object."""


class VideoParams(Params):
    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False)

    prompt: str = Field(
        "", max_length=MAX_PROMPT, description="What the video shows (an extend may leave it out)."
    )
    model: str = Field(DEFAULT_MODEL, description=f"One of {', '.join(MODELS)}, or sora-2, sora-2-pro.")
    seconds: str | float = Field(DEFAULT_SECONDS, description="Length in seconds: 4, 8, 12, or others.")
    size: str = Field(DEFAULT_SIZE, description="Width x height in pixels, both even (720x1280...).")
    input_reference: str | None = Field(None, description="An image for the first frame: a file or URI.")


def model_of(name: str) -> str:
    model = ALIASES.get(name, name)
    if model not in MODELS:
        raise InvalidRequestError("model", f"unknown model {quoted(name)}; one of {', '.join(MODELS)}")
    return model


def size_of(size: str) -> tuple[int, int]:
    width, _, height = size.partition("x")
    sides = (width, height)
    if not all(side.isascii() and side.isdigit() and len(side) <= _SIDE_DIGITS for side in sides):
        raise InvalidRequestError("size", f"width x height in pixels, such as 1280x720, not {quoted(size)}")
    return int(width), int(height)


def seconds_of(seconds: str | float) -> Fraction:
    try:
        value = Fraction(str(seconds))
    except (ValueError, ZeroDivisionError):
        raise InvalidRequestError("seconds", f"a number of seconds, not {quoted(seconds)}") from None
    if value <= 0:
        raise InvalidRequestError("seconds", "must be positive")
    return value


def _build(params: Any) -> GenerationRequest:
    extra: dict[str, Any] = {name: value for name, value in (params.model_extra or {}).items()
                             if name != REMIXED}  # fmt: skip
    unknown = _unknown(extra, GenerationRequest, "")
    if unknown:
        raise ParamsError([(name, "unknown parameter") for name in unknown])
    for path in _MEDIA_PATHS:
        _wrap(extra, path, lambda value: {"uri": value} if isinstance(value, str) else value)
    for path in _LENGTH_PATHS:
        _wrap(extra, path, lambda value: {"seconds": str(value)} if isinstance(value, int | float) else value)
    task = extra.pop("task", None) or _task(extra, params.input_reference)
    if task not in set(Task):
        raise InvalidRequestError("task", f"one of {', '.join(Task)}, not {quoted(task)}")
    data: dict[str, Any] = {**extra, "task": task, "prompt": params.prompt, "seed": params.seed}
    data.setdefault("sampling", {}).setdefault("pipeline", MODELS[model_of(params.model)])
    if Task(task) not in _EDITS.values():
        if not any(data.get(name) is not None for name in _SIZE_TERMS):
            width, height = size_of(params.size)
            data |= {"width": width, "height": height}
        if not data.get("match_audio"):
            data.setdefault("duration", {"seconds": str(seconds_of(params.seconds))})
    if params.input_reference is not None:
        data["first_frame"] = {"image": {"uri": params.input_reference}}
    try:
        return request_from_json(data)
    except ValidationError as error:
        for detail in error.errors():
            # the request's own rules (checked as it is made) name their field themselves
            if isinstance(found := detail.get("ctx", {}).get("error"), InvalidRequestError):
                raise found from None
        problems = [(".".join(str(part) for part in detail["loc"]) or "body", detail["msg"])
                    for detail in error.errors()]  # fmt: skip
        raise ParamsError(problems) from None


def _unknown(data: dict[str, Any], kind: type, path: str) -> list[str]:
    """Keys of `data` that are no field of the dataclass `kind`, at any depth (a typo is refused,
    not ignored)."""
    fields = {field.name: field for field in dataclasses.fields(kind)}
    hints = typing.get_type_hints(kind)
    unknown = []
    for name, value in data.items():
        if name not in fields or name in INTERNAL_FIELDS:
            unknown.append(path + name)
            continue
        kinds = typing.get_args(hints[name]) or (hints[name],)
        nested = [arg for arg in kinds if dataclasses.is_dataclass(arg)]
        items = value if isinstance(value, list) else [value]
        for item in items:
            if nested and isinstance(item, dict):
                unknown += _unknown(item, nested[0], f"{path}{name}.")  # type: ignore[arg-type]
    return unknown


def _task(extra: dict[str, Any], reference: str | None) -> str:
    edits = [task for name, task in _EDITS.items() if name in extra]
    if edits:
        return edits[0].value
    if "audio" in extra:
        return Task.AUDIO_TO_VIDEO.value
    if reference is not None or "first_frame" in extra or "last_frame" in extra:
        return Task.IMAGE_TO_VIDEO.value
    return Task.TEXT_TO_VIDEO.value


def _wrap(data: dict[str, Any], path: tuple[str, ...], convert: Any) -> None:
    """Convert the value at `path` in nested dicts, where there is one."""
    *parents, last = path
    node: Any = data
    for name in parents:
        node = node.get(name) if isinstance(node, dict) else None
    if isinstance(node, dict) and last in node:
        node[last] = convert(node[last])


def _price(params: Any, made: Made | None) -> float | None:
    seconds = made.duration if made is not None else None
    if seconds is None and not (params.model_extra or {}).keys() & _EDITS.keys():
        seconds = float(seconds_of(params.seconds))
    if seconds is None:
        return None
    return round(PRICES[ALIASES.get(params.model, params.model)] * seconds, 4)


_FIELDS = {"first_frame": "input_reference", "duration": "seconds", "width": "size", "height": "size",
           "sampling.pipeline": "model"}  # fmt: skip
VIDEOS = Product("videos", VideoParams, _build, _price, _FIELDS)
