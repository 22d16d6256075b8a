"""Files: results of a local store, served at signed expiring URLs, and uploads, stored for later
requests to refer to as upload://<id>."""

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, BinaryIO

from fastapi import Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect

from ltxserve import inputs
from ltxserve.api.auth import Owner
from ltxserve.api.dependencies import ServiceDep
from ltxserve.api.dialect import PLAIN
from ltxserve.api.errors import ApiError, client_gone, quoted
from ltxserve.api.service import Upload

router = PLAIN.router()

_SPOOL_BYTES = 8 << 20


@router.get("/files/{key:path}", include_in_schema=False)
async def download(key: str, expires: int, signature: str, service: ServiceDep) -> FileResponse:
    storage = service.storage
    root = storage.local_root
    missing = ApiError(404, "not_found", "no such file, or its link expired")
    if root is None or not storage.check_signature(key, expires, signature):
        raise missing
    path = (root / key).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise missing
    return FileResponse(path, filename=_download_name(key), content_disposition_type="inline")


@router.put("/files/{key:path}", include_in_schema=False, status_code=200)
async def put(key: str, expires: int, signature: str, request: Request, service: ServiceDep) -> Response:
    """The upload behind a signed PUT link (the LTX API's `upload_url`): the body is the file."""
    storage = service.storage
    if storage.local_root is None or not storage.check_signature(key, expires, signature, "PUT"):
        raise ApiError(403, "forbidden", "the upload link is not valid, or it expired")
    async with _spooled(request, "body") as body:
        await service.put_in_slot(key, body)
    return Response(status_code=200)


@asynccontextmanager
async def _spooled(request: Request, field: str) -> AsyncIterator[BinaryIO]:
    """The raw request body, kept in memory up to 8 MiB and on disk past that; empty is a 400."""
    with tempfile.SpooledTemporaryFile(_SPOOL_BYTES) as spool:
        try:
            async for chunk in request.stream():
                spool.write(chunk)
        except ClientDisconnect:
            raise client_gone(spool.tell()) from None
        if spool.tell() == 0:
            raise ApiError(400, "invalid_params", "the upload is empty", field)
        spool.seek(0)
        yield spool  # type: ignore[misc]


def _download_name(key: str) -> str:
    """results/<job>/<attempt>/video.mp4 -> <job>.mp4"""
    parts = Path(key).parts
    return f"{parts[1]}{Path(key).suffix}" if parts[0] == "results" and len(parts) > 2 else Path(key).name


@router.post("/api/uploads", tags=["uploads"])
async def upload(request: Request, owner: Owner, service: ServiceDep) -> dict[str, Any]:
    """Store a file (multipart field `file`, or the raw request body) for later requests; refer to
    it as the returned `uri` (upload://<id>) in any media field."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise ApiError(400, "invalid_params", "send the file in a multipart field named 'file'", "file")
        stored = await service.upload(owner, file.file)
    else:
        async with _spooled(request, "file") as body:
            stored = await service.upload(owner, body)
    return _upload(stored)


@router.get("/api/uploads", tags=["uploads"])
async def uploads(owner: Owner, service: ServiceDep) -> dict[str, Any]:
    """The key's uploads, oldest first, with the bytes they take and the key's quota."""
    stored, used, quota = await service.uploads(owner)
    return {"data": [_upload(item) for item in stored], "used": used, "quota": quota}


@router.get("/api/uploads/{upload_id}", tags=["uploads"], response_class=StreamingResponse)
async def read_upload(upload_id: str, owner: Owner, service: ServiceDep) -> StreamingResponse:
    """An upload's bytes, to the key that made it (the workbench plays a source video from it)."""
    found = await service.upload_content(owner, _identifier(upload_id))
    if found is None:
        raise ApiError(404, "not_found", f"no upload {quoted(upload_id)}")
    size, content = found
    headers = {"Content-Length": str(size), "Cache-Control": "private, max-age=3600"}
    return StreamingResponse(content, media_type="application/octet-stream", headers=headers)


@router.delete("/api/uploads/{upload_id}", tags=["uploads"])
async def delete_upload(upload_id: str, owner: Owner, service: ServiceDep) -> dict[str, Any]:
    """Delete an upload, making room in the key's quota (jobs that already took it are not touched)."""
    identifier = _identifier(upload_id)
    if not identifier or not await service.delete_upload(owner, identifier):
        raise ApiError(404, "not_found", f"no upload {quoted(upload_id)}")
    return {"id": identifier, "deleted": True}


def _identifier(upload_id: str) -> str:
    """The id of `upload_id` (an id or its upload:// reference); empty when it is neither."""
    try:
        return inputs.upload_id(upload_id)
    except inputs.FetchError:
        return ""


def _upload(upload: Upload) -> dict[str, Any]:
    return {"id": upload.id, "uri": upload.uri, "size": upload.size, "created_at": int(upload.created_at)}
