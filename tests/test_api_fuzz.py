"""Property-based fuzzing of every surface over real HTTP: schemathesis generates requests from the
served OpenAPI (every route's path, query and header parameters), with each submit route's body
described by the schema its surface publishes (Oxen's model pages, the fal endpoints', the LTX API's,
OpenAI's), and sends both conforming and non-conforming ones. None may be answered with a 500 or
write a traceback. The run is bounded and derandomized (the same cases on every run), so CI never
turns red by chance; FUZZ_EXAMPLES makes it longer."""

import copy
import logging
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode

from ltxserve.api import fal_models, ltx_models, openai_models
from ltxserve.api.service import Service
from tests.inprocess import served_in_thread

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
"""Cases per route and generation mode."""
SYNC_ROUTES = {
    "/api/ai/videos/generate",
    "/fal/run/{app_id}",
    *(f"/v1/{name}" for name in ltx_models.ENDPOINTS),
}
"""Routes that wait for the video: with no worker here, a request they take is answered with their
designed timeout, a 504 in the surface's envelope, which is not a failure; and a generated case that
repeats an Idempotency-Key is answered with that earlier job, cancelled by its timeout (the LTX API
answers a cancelled job as a 500)."""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Service]]:
    with served_in_thread(tmp_path_factory.mktemp("fuzz"), sync_timeout=0.2) as running:
        yield running


def inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with its local `$defs` references replaced by what they name, so it can sit anywhere
    in an OpenAPI document (pydantic's references are to the schema's own root)."""
    definitions = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node and node["$ref"].startswith("#/$defs/"):
                return walk(copy.deepcopy(definitions[node["$ref"].removeprefix("#/$defs/")]))
            return {key: walk(value) for key, value in node.items() if key != "$defs"}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    result: dict[str, Any] = walk(schema)
    return result


def json_body(*schemas: dict[str, Any]) -> dict[str, Any]:
    schema = inlined(schemas[0]) if len(schemas) == 1 else {"oneOf": [inlined(item) for item in schemas]}
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def oxen_bodies(base_url: str) -> list[dict[str, Any]]:
    """Each Oxen model's request schema as its model page publishes it, with its `model` fixed."""
    listed = httpx.get(f"{base_url}/api/ai/models").json()["data"]
    bodies = []
    for model in listed:
        schema = copy.deepcopy(model["request_schema"])
        schema["properties"]["model"] = {"const": model["id"]}
        schema["properties"]["num_generations"] = {"type": "integer"}
        schema["required"] = ["model", *schema.get("required", [])]
        bodies.append(schema)
    return bodies


def fuzzed_document(base_url: str) -> dict[str, Any]:
    """The served OpenAPI, its submit routes given the bodies each surface describes."""
    document: dict[str, Any] = httpx.get(f"{base_url}/openapi.json").json()
    paths = document["paths"]
    for route in ("/api/ai/queue", "/api/ai/videos/generate"):
        paths[route]["post"]["requestBody"] = json_body(*oxen_bodies(base_url))
    fal_ids = list(fal_models.ENDPOINTS)
    for route in ("/fal/queue/{app_id}", "/fal/run/{app_id}"):
        operation = paths[route]["post"]
        operation["requestBody"] = json_body(
            *(endpoint.product.schema() for endpoint in fal_models.ENDPOINTS.values())
        )
        next(p for p in operation["parameters"] if p["name"] == "app_id")["schema"] = {"enum": fal_ids}
    submit = paths["/v2/{endpoint}"]["post"]
    submit["requestBody"] = json_body(*(product.schema() for product in ltx_models.ENDPOINTS.values()))
    next(p for p in submit["parameters"] if p["name"] == "endpoint")["schema"] = {
        "enum": list(ltx_models.ENDPOINTS)
    }
    paths["/v1/videos"]["post"]["requestBody"] = json_body(openai_models.VIDEOS.schema())
    paths["/v1/videos/{video_id}/remix"]["post"]["requestBody"] = json_body(
        {"type": "object", "properties": {"prompt": {"type": "string"}}, "required": ["prompt"]}
    )
    return document


def test_no_request_generated_from_any_surfaces_openapi_is_a_500(
    served: tuple[str, Service], caplog: pytest.LogCaptureFixture
) -> None:
    base_url, _ = served
    schema = schemathesis.openapi.from_dict(fuzzed_document(base_url))
    failures: list[str] = []
    sent = operations = 0
    with caplog.at_level(logging.ERROR):
        for result in schema.get_all_operations():
            assert isinstance(result, Ok), f"the served OpenAPI is invalid: {result}"
            operations += 1
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                sent += fuzz(result.ok(), mode, base_url, failures)
    print(f"fuzzed {operations} operations with {sent} requests")
    assert not failures, "\n".join(failures[:20])
    assert "Traceback" not in caplog.text
    assert operations >= 30 and sent >= operations * EXAMPLES, "every route was fuzzed, in both modes"


def fuzz(operation: Any, mode: GenerationMode, base_url: str, failures: list[str]) -> int:
    """Send up to EXAMPLES cases of `operation` in `mode`, adding each 5xx that is not by design to
    `failures`; how many were sent."""
    sync = operation.path in SYNC_ROUTES
    sent = 0

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(case=operation.as_strategy(mode))
    def probe(case: Any) -> None:
        nonlocal sent
        sent += 1
        with requests.request(
            **case.as_transport_kwargs(base_url=base_url), stream=True, timeout=60
        ) as response:
            # an event stream that opened is not read on: only what an error says
            text = "" if response.status_code < 400 else response.text
        designed = (
            (sync and response.status_code == 504 and "timeout" in text)
            or (sync and response.status_code == 500 and "was cancelled" in text)
            or (
                operation.path == "/health/ready" and response.status_code == 503  # no worker here
            )
        )
        if response.status_code >= 500 and not designed:
            failures.append(f"{response.status_code} {text[:200]} for {case.as_curl_command()}")

    try:
        probe()
    except Unsatisfiable:  # nothing to get wrong: no parameters, or any text is one
        assert mode is GenerationMode.NEGATIVE, operation.label
    return sent
