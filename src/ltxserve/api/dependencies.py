"""What route handlers are given: the service, and the base URL results are linked from."""

from typing import Annotated

from fastapi import Depends, Request

from ltxserve.api.service import Service


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _base_url(request: Request) -> str:
    return str(request.base_url)


ServiceDep = Annotated[Service, Depends(_service)]
BaseUrl = Annotated[str, Depends(_base_url)]
