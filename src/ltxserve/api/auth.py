"""Who is calling: the API key in `Authorization: Bearer ...`, or "local" when auth is off."""

import asyncio
from typing import Annotated

from fastapi import Depends, Request

from ltxserve.api.errors import ApiError
from ltxserve.keys import KeyStore

LOCAL_OWNER = "local"


class Authenticator:
    def __init__(self, keys: KeyStore | None) -> None:
        self._keys = keys
        """None: authentication is off and every caller is the local owner."""

    async def owner(self, authorization: str | None) -> str:
        if self._keys is None:
            return LOCAL_OWNER
        scheme, _, secret = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise ApiError(401, "unauthenticated", "send an API key as 'Authorization: Bearer <key>'")
        owner = await asyncio.to_thread(self._keys.owner, secret.strip())
        if owner is None:
            raise ApiError(401, "unauthenticated", "the API key is unknown or revoked")
        return owner


async def current_owner(request: Request) -> str:
    authenticator: Authenticator = request.app.state.authenticator
    return await authenticator.owner(request.headers.get("authorization"))


Owner = Annotated[str, Depends(current_owner)]
