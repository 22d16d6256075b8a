"""Request bodies as every surface takes them: a JSON object, or a multipart form whose files become
the caller's uploads (referenced as upload://ID) and whose text values are read as the JSON they spell.
Form names nest as SDKs write them (`extend[video]`, `loras[][scale]`: the OpenAI SDK's multipart)."""

import json
import re
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
            keys = _keys(name)
            if isinstance(value, UploadFile):
                _place(body, keys, (await service.upload(owner, value.file)).uri)
            else:
                _place(body, keys, _form_value(next(key for key in reversed(keys) if key), value))
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


_NAME = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])*)")


def _keys(name: str) -> list[str]:
    """`a[b][]` -> ["a", "b", ""]; a name without brackets is itself."""
    match = _NAME.fullmatch(name)
    if match is None:
        return [name]
    return [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]


def _place(node: dict[str, Any] | list[Any], keys: list[str], value: Any) -> None:
    """Set `value` at `keys` in nested dicts and lists ("" appends to a list; a list of objects gets a
    new object when the key is already set in its last one)."""
    key, rest = keys[0], keys[1:]
    if isinstance(node, list):
        if not rest:
            node.append(value)
            return
        if not node or not isinstance(node[-1], dict) or rest[0] in node[-1]:
            node.append({})
        _place(node[-1], rest, value)
        return
    if not rest:
        node[key] = value
        return
    child = node.get(key)
    if not isinstance(child, dict | list):
        child = [] if rest[0] == "" else {}
        node[key] = child
    _place(child, rest, value)
