"""What can be checked of a request before its media is fetched, with the rules the engine plans
with. Torch-free: the API refuses a request at submit time with it."""

from dataclasses import replace

from ltxserve.engine.knobs import stage_plans
from ltxserve.engine.planning import Chaining, check_length, plan_request
from ltxserve.engine.weights import WeightSet
from ltxserve.request import GenerationRequest, Task

NEEDS_SOURCE = (Task.EXTEND, Task.RETAKE)


def check(request: GenerationRequest, weights: WeightSet | None, chaining: Chaining = Chaining()) -> None:
    """Raises InvalidRequestError naming the field: every sampling knob against the pipeline (and
    `weights`, when the caller knows the ones workers load), an edit's length against the longest,
    and every shape except those that wait for the source video (or the image or audio that decides
    the size or length) to be read. LoRAs given by URL are checked by the worker that fetches them."""
    check_length(request, chaining)
    if weights is not None:
        stage_plans(
            replace(request, loras=tuple(lora for lora in request.loras if not lora.is_remote)), weights
        )
    if request.task not in NEEDS_SOURCE and request.image_area is None and not request.match_audio:
        plan_request(request)
