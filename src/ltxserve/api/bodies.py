"""Request bodies as every surface takes them: a JSON object, or a multipart form whose files become
the caller's uploads (referenced as upload://ID) and whose text values are read as the JSON they spell."""

import json
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile

from ltxserve.api.errors import ApiError
from ltxserve.api.service import Service

TEXT_FIELDS = frozenset({"prompt", "negative_prompt"})
"""Form values kept as text even when they would read as JSON (a prompt of "42")."""


async def read_body(request: Request, service: Service, owner: str) -> dict[str, Any]:
    """The JSON object, or a multipart form whose files become uploads. A body that is neither is a
    400 `invalid_json` in the route's dialect."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        body: dict[str, Any] = {}
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                body[name] = (await service.upload(owner, value.file)).uri
            else:
                body[name] = _form_value(name, value)
        return body
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ApiError(400, "invalid_json", f"the body is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return body


def _form_value(name: str, value: str) -> Any:
    """Form fields are text; numbers, booleans and lists are read as JSON, prompts and URLs stay text."""
    if name in TEXT_FIELDS or "://" in value or value.startswith("data:"):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value
