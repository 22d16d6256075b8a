"""API keys: made once and shown once, stored only as a SHA-256 digest, revocable.

A key's id (the `ltx_<id>_` part of the secret, not secret itself) is the owner of everything the key
creates: jobs, events, uploads. A key may have limits of its own; where it has none, the server's
defaults (`Settings`) hold. Keys carry 256 random bits, so a fast hash is the right one; a slow
password hash would only slow every request down.
"""

import hashlib
import secrets
import time
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ltxserve.database import api_keys, reading, writing

PREFIX = "ltx_"


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    created_at: float
    revoked_at: float | None
    storage_quota: int | None = None
    """Bytes of uploads the key may keep; None: the server's default."""

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class ApiKeyError(Exception):
    """A key operation that cannot be done (duplicate name, unknown key)."""


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _key(row: sa.Row[Any]) -> ApiKey:
    return ApiKey(row.id, row.name, row.created_at, row.revoked_at, row.storage_quota)


def _find(connection: sa.Connection, id_or_name: str) -> sa.Row[Any]:
    match = sa.or_(api_keys.c.id == id_or_name, api_keys.c.name == id_or_name)
    row = connection.execute(sa.select(api_keys).where(match)).first()
    if row is None:
        raise ApiKeyError(f"no key with id or name {id_or_name!r}")
    return row


class KeyStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, name: str, storage_quota: int | None = None) -> tuple[ApiKey, str]:
        """A new key and its secret, which is not stored and cannot be shown again."""
        if not name.strip():
            raise ApiKeyError("a key needs a name")
        key_id = secrets.token_hex(6)
        secret = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        with writing(self.engine) as connection:
            taken = connection.execute(sa.select(api_keys.c.id).where(api_keys.c.name == name)).first()
            if taken is not None:
                raise ApiKeyError(f"a key named {name!r} exists already")
            now = time.time()
            connection.execute(
                api_keys.insert().values(
                    id=key_id, name=name, digest=_digest(secret), created_at=now, storage_quota=storage_quota
                )
            )
        return ApiKey(key_id, name, now, None, storage_quota), secret

    def list_keys(self) -> list[ApiKey]:
        with reading(self.engine) as connection:
            rows = connection.execute(sa.select(api_keys).order_by(api_keys.c.created_at))
            return [_key(row) for row in rows]

    def revoke(self, id_or_name: str) -> ApiKey:
        with writing(self.engine) as connection:
            row = _find(connection, id_or_name)
            revoked_at = row.revoked_at or time.time()
            connection.execute(api_keys.update().where(api_keys.c.id == row.id).values(revoked_at=revoked_at))
            return replace(_key(row), revoked_at=revoked_at)

    def set_storage_quota(self, id_or_name: str, storage_quota: int | None) -> ApiKey:
        """Give the key a quota of its own (None: the server's default again)."""
        with writing(self.engine) as connection:
            row = _find(connection, id_or_name)
            connection.execute(
                api_keys.update().where(api_keys.c.id == row.id).values(storage_quota=storage_quota)
            )
            return replace(_key(row), storage_quota=storage_quota)

    def storage_quota(self, key_id: str) -> int | None:
        """The key's own storage quota, if it has one."""
        with reading(self.engine) as connection:
            quota = connection.execute(
                sa.select(api_keys.c.storage_quota).where(api_keys.c.id == key_id)
            ).scalar_one_or_none()
        return None if quota is None else int(quota)

    def owner(self, secret: str) -> str | None:
        """The id of the active key `secret` belongs to, or None."""
        if not secret.startswith(PREFIX):
            return None
        with reading(self.engine) as connection:
            row = connection.execute(
                sa.select(api_keys.c.id).where(
                    api_keys.c.digest == _digest(secret), api_keys.c.revoked_at.is_(None)
                )
            ).first()
        return str(row.id) if row else None

    def any_keys(self) -> bool:
        with reading(self.engine) as connection:
            return connection.execute(sa.select(api_keys.c.id).limit(1)).first() is not None
