"""Who is calling: the API key in `Authorization: <scheme> <key>` (the schemes of the surface's
dialect: `Bearer`, fal's `Key`), or "local" when auth is off; and whether the key is within its
requests per minute (a 429 with Retry-After when not)."""

import asyncio
import math
import time
from typing import Annotated

from fastapi import Depends, Request

from ltxserve.api.dialect import dialect_of
from ltxserve.api.errors import ApiError
from ltxserve.keys import KeyStore

LOCAL_OWNER = "local"


class Authenticator:
    def __init__(self, keys: KeyStore | None, requests_per_minute: int) -> None:
        self._keys = keys
        """None: authentication is off and every caller is the local owner."""
        self._requests_per_minute = requests_per_minute
        """A key's limit unless it has its own."""

    async def owner(self, authorization: str | None, schemes: tuple[str, ...]) -> str:
        if self._keys is None:
            return LOCAL_OWNER
        scheme, _, secret = (authorization or "").partition(" ")
        if scheme.lower() not in {name.lower() for name in schemes} or not secret.strip():
            forms = " or ".join(f"'Authorization: {name} <key>'" for name in schemes)
            raise ApiError(401, "unauthenticated", f"send an API key as {forms}")
        key = await asyncio.to_thread(self._keys.owner, secret.strip())
        if key is None:
            raise ApiError(401, "unauthenticated", "the API key is unknown or revoked")
        now = time.time()
        count, minute_ends = await asyncio.to_thread(self._keys.count_request, key.id, now)
        limit = key.limits.requests_per_minute or self._requests_per_minute
        if count > limit:
            wait = str(max(1, math.ceil(minute_ends - now)))
            message = f"this key may make {limit} requests a minute; try again in {wait} s"
            raise ApiError(429, "rate_limited", message, headers={"Retry-After": wait})
        return key.id


async def current_owner(request: Request) -> str:
    authenticator: Authenticator = request.app.state.authenticator
    schemes = dialect_of(request.scope).auth_schemes
    return await authenticator.owner(request.headers.get("authorization"), schemes)


Owner = Annotated[str, Depends(current_owner)]
