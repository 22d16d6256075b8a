"""What requests carry, as every surface reads it. Bodies: a JSON object (finite numbers, nested at most
MAX_DEPTH deep, no text but data URIs longer than MAX_TEXT), or a multipart form whose files become the
caller's uploads (referenced as upload://ID) and whose text values are read as the JSON they spell; form
names nest as SDKs write them (`extend[video]`, `loras[][scale]`: the OpenAI SDK's multipart).
Numbers in queries and headers: ASCII digits within range (`whole_number`)."""

import json
import math
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect

from ltxserve.api.errors import ApiError, client_gone
from ltxserve.api.service import Service

TEXT_FIELDS = frozenset({"prompt", "negative_prompt"})
"""Form values kept as text even when they would read as JSON (a prompt of "42")."""
MAX_DEPTH = 32
"""How deep a body's objects and lists (or a form name's brackets) may nest."""
MAX_TEXT = 8192
"""Characters in any text a body carries, names included (a field's own rule may be tighter: prompts
5,000, URLs 2,048); data URIs are bounded by their bytes instead."""


@asynccontextmanager
async def submitted_body(request: Request, service: Service, owner: str) -> AsyncIterator[dict[str, Any]]:
    """The body of a submission, as `_read_body` reads it. If reading it fails or the block refuses it
    (raises), the uploads its files became are deleted: a refused request keeps nothing."""
    made: list[str] = []
    try:
        yield await _read_body(request, service, owner, made)
    except BaseException:
        for upload in made:
            await service.delete_upload(owner, upload)
        raise


async def _read_body(
    request: Request, service: Service, owner: str, made: list[str] | None = None
) -> dict[str, Any]:
    """The JSON object, or a multipart form whose files become uploads (their ids added to `made`).
    A body that is neither is a 400 `invalid_json` in the route's dialect; text over MAX_TEXT is a 422
    naming its field."""
    body = await _read_fields(request, service, owner, made)
    _check_text(body)
    return body


async def _read_fields(
    request: Request, service: Service, owner: str, made: list[str] | None
) -> dict[str, Any]:
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        try:
            form = await request.form()
        except ClientDisconnect:
            raise client_gone() from None
        items = [(_keys(name), value) for name, value in form.multi_items()]  # every name read first
        body: dict[str, Any] = {}
        for keys, value in items:
            if isinstance(value, UploadFile):
                upload = await service.upload(owner, value.file)
                if made is not None:
                    made.append(upload.id)
                _place(body, keys, upload.uri)
            else:
                _place(body, keys, _form_value(next(key for key in reversed(keys) if key), value))
        return body
    try:
        body = _json(await request.body())
    except ValueError as error:
        raise ApiError(400, "invalid_json", f"the body is not JSON we read: {error}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return body


def _json(text: str | bytes) -> Any:
    """JSON with finite numbers only, nested at most MAX_DEPTH deep; ValueError says what is wrong
    (never echoing more than a little of it)."""
    try:
        value = json.loads(text, parse_float=_finite, parse_constant=_not_a_number)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_DEPTH}") from None
    except UnicodeDecodeError:
        raise ValueError("not UTF-8") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{error.msg} at character {error.pos}") from None
    except ValueError as error:  # a non-finite number, or an integer beyond Python's digit limit
        raise ValueError(str(error).split(";")[0][:120]) from None
    if _depth(value) > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH}")
    return value


def _check_text(body: dict[str, Any]) -> None:
    """ApiError naming the first field whose text (or name) is longer than MAX_TEXT (walked without
    recursion)."""
    pending: list[tuple[str, Any]] = [("", body)]
    while pending:
        path, item = pending.pop()
        if not isinstance(item, dict | list):
            continue
        for key, child in item.items() if isinstance(item, dict) else enumerate(item):
            key = str(key)
            name = f"{path}.{key}" if path else key
            if len(key) > MAX_TEXT:
                message = f"a field's name is {len(key)} characters; at most {MAX_TEXT}"
                raise ApiError(422, "invalid_params", message, name[:64] + "...")
            if isinstance(child, str) and len(child) > MAX_TEXT and not child.startswith("data:"):
                raise ApiError(
                    422, "invalid_params", f"the text is {len(child)} characters; at most {MAX_TEXT}", name
                )
            pending.append((name, child))


def _depth(value: Any) -> int:
    """How deep objects and lists nest in `value` (walked without recursion)."""
    deepest, pending = 0, [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            depth += 1
            deepest = max(deepest, depth)
            pending.extend((child, depth) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:24]} is not a finite number")
    return value


def _not_a_number(text: str) -> float:
    raise ValueError(f"{text} is not a number JSON has")


def _form_value(name: str, value: str) -> Any:
    """Form fields are text; numbers, booleans and lists are read as JSON, prompts and URLs stay text."""
    if name in TEXT_FIELDS or "://" in value or value.startswith("data:"):
        return value
    try:
        return _json(value)
    except ValueError:
        return value


_NAME = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])*)")


def whole_number(text: str, largest: int) -> int | None:
    """A query's or header's whole number from 0 to `largest`, or None: ASCII digits only (not every
    character `str.isdigit` takes), and no longer than `largest` is."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(largest)):
        return None
    value = int(text)
    return value if value <= largest else None


def _keys(name: str) -> list[str]:
    """`a[b][]` -> ["a", "b", ""]; a name without brackets is itself."""
    match = _NAME.fullmatch(name)
    if match is None:
        return [name]
    keys = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
    if len(keys) > MAX_DEPTH:
        raise ApiError(400, "invalid_params", f"a form field is nested {len(keys)} deep; at most {MAX_DEPTH}")
    return keys


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
