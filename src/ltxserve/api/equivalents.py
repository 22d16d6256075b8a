"""The same generation in another dialect, for the workbench's API tab: an Oxen model's parameters as
the arguments of the fal endpoint that runs the same product (both are the LTX API's Pro products,
named each provider's way). A translation is offered only when fal's endpoint, given it, makes exactly
the request Oxen's model makes; otherwise there is none (fal's Pro endpoints lack some of Oxen's knobs).
"""

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from ltxserve.api.fal_models import ENDPOINTS
from ltxserve.catalog import ParamsError, Product
from ltxserve.request import GenerationRequest, InvalidRequestError

_FAL = "fal-ai/ltx-2.3"
_FAL_ENDPOINTS = {
    "ltx-2-3-pro": (f"{_FAL}/text-to-video", f"{_FAL}/image-to-video"),
    "ltx-2-3-pro-text-to-video": (f"{_FAL}/text-to-video", f"{_FAL}/text-to-video"),
    "ltx-2-3-fast": (f"{_FAL}/text-to-video/fast", f"{_FAL}/image-to-video/fast"),
    "ltx-2-3-pro-extend-video": (f"{_FAL}/extend-video", f"{_FAL}/extend-video"),
    "ltx-2-3-pro-retake": (f"{_FAL}/retake-video", f"{_FAL}/retake-video"),
    "ltx-2-3-pro-audio-to-video": (f"{_FAL}/audio-to-video", f"{_FAL}/audio-to-video"),
}
"""Oxen's model -> fal's endpoint, without an image and with one."""
_FAL_NAMES = {
    "video": "video_url",
    "image": "image_url",
    "last_frame_image": "end_image_url",
    "audio": "audio_url",
}
"""Oxen's catalog names -> fal's, where they differ (a retake's `mode` is fal's `retake_mode`)."""


def fal_call(
    model: Product, params: Mapping[str, Any], request: GenerationRequest
) -> tuple[str, dict[str, Any]] | None:
    """fal's endpoint and arguments for Oxen's `model` with `params` (catalog names), which made
    `request`; None when fal has no endpoint that makes the same request. Every argument is spelled
    out, defaults too: the two providers' defaults differ (a retake's length: Oxen 2 s, fal 5 s)."""
    endpoints = _FAL_ENDPOINTS.get(model.id)
    if endpoints is None:
        return None
    given = model.validate(params).model_dump(mode="json")
    endpoint = endpoints[1] if given.get("image") or given.get("last_frame_image") else endpoints[0]
    names = _FAL_NAMES | ({"mode": "retake_mode"} if endpoint.endswith("/retake-video") else {})
    product = ENDPOINTS[endpoint].product
    # a knob fal lacks is left out: if it mattered, the requests differ below
    arguments = {names.get(name, name): value for name, value in given.items()
                 if value is not None and names.get(name, name) in product.params.model_fields}  # fmt: skip
    try:
        made = product.request(product.validate(arguments))
    except (ParamsError, InvalidRequestError, ValidationError):
        return None
    same = replace(made, input_rules=None) == replace(request, input_rules=None)  # each provider's own rules
    return (endpoint, arguments) if same else None
