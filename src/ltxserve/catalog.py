"""Products: what a surface offers, in the neutral terms every surface shares. A product has an id
(as its surface names it), typed parameters (with defaults and limits, and a JSON schema generated
from them), the GenerationRequest they make, and its price.

Each surface keeps its own products next to its router (`api/oxen_models.py`, `api/fal_models.py`):
their parameter names, defaults, limits and pricing are that provider's. What they can ask for is the
engine's whole capability, the GenerationRequest; this module is the machinery they share.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ltxserve.request import CameraMotion, GenerationRequest, ImageCondition, InvalidRequestError, MediaRef

MAX_PROMPT = 5000


class Made(Protocol):
    """What a finished job made, as far as a price needs it."""

    @property
    def width(self) -> int | None: ...
    @property
    def height(self) -> int | None: ...
    @property
    def frames(self) -> int | None: ...
    @property
    def duration(self) -> float | None: ...


class ParamsError(InvalidRequestError):
    """Parameters that do not validate; `errors` holds every (parameter, rule) found, the first is
    `field` and `message`."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__(*errors[0])
        self.errors = errors


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    seed: int | None = Field(None, ge=0, lt=2**63, description="Seed for a repeatable result.")


Price = Callable[[Any, Made | None], float | None]
"""US dollars for these parameters; None while it depends on what the job makes (`Made` is None
until then)."""
Seconds = Callable[[Any, Made | None], float | None]
"""A length a price is per second of; None while it depends on what the job makes."""


def asked_seconds(params: Any, _: Made | None) -> float:
    """The length the parameters ask for (their `duration`)."""
    return float(params.duration)


def made_seconds(_: Any, made: Made | None) -> float | None:
    """The length of what the job made (a retake's whole source, an audio-to-video's audio)."""
    return None if made is None else made.duration


def per_second(rate: float | Callable[[Any], float], seconds: Seconds) -> Price:
    """`rate` US dollars (a number, or read off the parameters) per second of `seconds`."""

    def price(params: Any, made: Made | None) -> float | None:
        length = seconds(params, made)
        dollars = rate if isinstance(rate, int | float) else rate(params)
        return None if length is None else round(dollars * length, 4)

    return price


@dataclass(frozen=True)
class Product:
    id: str
    params: type[Params]
    build: Callable[[Any], GenerationRequest]
    price: Price
    fields: Mapping[str, str] = field(default_factory=dict)
    """GenerationRequest field (or its prefix) -> the parameter it came from."""
    rules: Callable[[Any], None] | None = None
    """Rules across parameters, beyond each one's own."""

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

    def cost(self, params: Params, made: Made | None = None) -> float | None:
        return self.price(params, made)

    def schema(self) -> dict[str, Any]:
        schema = self.params.model_json_schema()
        properties = schema["properties"]
        properties["seed"] = properties.pop("seed")  # the shared knob goes last, after the product's own
        return schema


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


def seconds(value: float) -> Fraction:
    """A length as given in decimal (2.5 is exactly 5/2, not the nearest binary float)."""
    return Fraction(str(value))


def camera(choice: str) -> CameraMotion | None:
    return None if choice == "none" else CameraMotion(choice)


def image(uri: str | None, strength: float = 1.0) -> ImageCondition | None:
    return ImageCondition(MediaRef(uri), strength) if uri else None
