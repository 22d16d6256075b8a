"""Waiting for jobs on behalf of a client that is still there: the synchronous routes hold the
request open until the video is made, and a client that goes away first will never read it, so its
jobs are cancelled instead of running for no one."""

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from fastapi import Request

from ltxserve.api.errors import ApiError, log
from ltxserve.api.service import Service
from ltxserve.api.views import JobView


async def wait_attended(
    request: Request, service: Service, owner: str, job_ids: Sequence[str], base_url: str
) -> list[JobView]:
    """Each job once it has ended (or as it stands at the sync timeout), as `Service.wait` answers;
    if the client disconnects first, the jobs are cancelled and the request ends there."""
    waiting = asyncio.ensure_future(
        asyncio.gather(*(service.wait(owner, job_id, base_url) for job_id in job_ids))
    )
    gone = asyncio.ensure_future(_disconnected(request))
    either: set[asyncio.Future[Any]] = {waiting, gone}
    try:
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (waiting, gone):
            task.cancel()
    if waiting.done() and not waiting.cancelled():
        return waiting.result()
    for job_id in job_ids:
        await service.cancel(owner, job_id)
    log.info("the client went away while waiting; cancelled %s", ", ".join(job_ids))
    raise ApiError(499, "client_disconnected", "the client went away before the video was made")


async def _disconnected(request: Request) -> None:
    """Returns once the client has disconnected (the body has been read: all that can come now)."""
    with contextlib.suppress(OSError):
        while (await request.receive())["type"] != "http.disconnect":
            pass
