"""What route handlers are given: the service, the base URL results are linked from, and a submission's
Idempotency-Key. The first two are
`async`: FastAPI runs a plain function dependency in its thread pool, a thread hop per request."""

from typing import Annotated

from fastapi import Depends, Header, Request

from ltxserve.api.service import Service


async def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


async def _base_url(request: Request) -> str:
    return str(request.base_url)


ServiceDep = Annotated[Service, Depends(_service)]
BaseUrl = Annotated[str, Depends(_base_url)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Names this submission: sent again within 24 hours (a retry), it answers the jobs "
        "the first one made instead of making more.",
    ),
]
