"""What route handlers are given: the service, and the base URL results are linked from. Both are
`async`: FastAPI runs a plain function dependency in its thread pool, a thread hop per request."""

from typing import Annotated

from fastapi import Depends, Request

from ltxserve.api.service import Service


async def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


async def _base_url(request: Request) -> str:
    return str(request.base_url)


ServiceDep = Annotated[Service, Depends(_service)]
BaseUrl = Annotated[str, Depends(_base_url)]
