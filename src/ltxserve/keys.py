"""API keys: made once and shown once, stored only as a SHA-256 digest, revocable.

A key's id (the `ltx_<id>_` part of the secret, not secret itself) is the owner of everything the key
creates: jobs, events, uploads. A key may have limits of its own; where it has none, the server's
defaults (`Settings`) hold. Keys carry 256 random bits, so a fast hash is the right one; a slow
password hash would only slow every request down.
"""

import hashlib
import secrets
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from ltxserve.database import api_keys, reading, request_counts, writing

PREFIX = "ltx_"


@dataclass(frozen=True)
class KeyLimits:
    """A key's own limits; where one is None, the server's default (`Settings`) holds."""

    storage_quota: int | None = None
    """Bytes of uploads the key may keep."""
    requests_per_minute: int | None = None
    max_unfinished: int | None = None
    """Jobs queued or running at once."""
    max_running: int | None = None
    """Jobs running at once (workers take no more of the key's until one ends)."""
    seconds_per_day: int | None = None
    """Seconds of video the key's jobs may make in a day (UTC)."""

    def over(self, defaults: "KeyLimits") -> "KeyLimits":
        """These limits where they are set, else `defaults`'."""
        own, default = asdict(self), asdict(defaults)
        return KeyLimits(**{name: default[name] if value is None else value for name, value in own.items()})


LIMITS = tuple(KeyLimits.__dataclass_fields__)


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    created_at: float
    revoked_at: float | None
    limits: KeyLimits = KeyLimits()

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class ApiKeyError(Exception):
    """A key operation that cannot be done (duplicate name, unknown key)."""


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _key(row: sa.Row[Any]) -> ApiKey:
    limits = KeyLimits(**{name: getattr(row, name) for name in LIMITS})
    return ApiKey(row.id, row.name, row.created_at, row.revoked_at, limits)


def _find(connection: sa.Connection, id_or_name: str) -> sa.Row[Any]:
    match = sa.or_(api_keys.c.id == id_or_name, api_keys.c.name == id_or_name)
    row = connection.execute(sa.select(api_keys).where(match)).first()
    if row is None:
        raise ApiKeyError(f"no key with id or name {id_or_name!r}")
    return row


class KeyStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, name: str, limits: KeyLimits = KeyLimits()) -> tuple[ApiKey, str]:
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
                    id=key_id, name=name, digest=_digest(secret), created_at=now, **asdict(limits)
                )
            )
        return ApiKey(key_id, name, now, None, limits), secret

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

    def set_limits(self, id_or_name: str, **changes: int | None) -> ApiKey:
        """Change some of the key's own limits (None: the server's default again)."""
        with writing(self.engine) as connection:
            row = _find(connection, id_or_name)
            limits = replace(_key(row).limits, **changes)
            connection.execute(api_keys.update().where(api_keys.c.id == row.id).values(**asdict(limits)))
            return replace(_key(row), limits=limits)

    def limits(self, key_id: str) -> KeyLimits:
        """The key's own limits (none, for a key that is not there)."""
        with reading(self.engine) as connection:
            row = connection.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).first()
        return KeyLimits() if row is None else _key(row).limits

    def owner(self, secret: str) -> ApiKey | None:
        """The active key `secret` belongs to, or None."""
        if not secret.startswith(PREFIX):
            return None
        with reading(self.engine) as connection:
            row = connection.execute(
                sa.select(api_keys).where(
                    api_keys.c.digest == _digest(secret), api_keys.c.revoked_at.is_(None)
                )
            ).first()
        return None if row is None else _key(row)

    def count_request(self, key_id: str, now: float) -> tuple[int, float]:
        """Count a request of the key in the current minute: how many it has made in that minute, this
        one included, and when the minute ends. Counted in the database, so every API instance sees
        the same count."""
        window = int(now // 60)
        insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        with writing(self.engine) as connection:
            count = connection.execute(
                insert(request_counts)
                .values(key_id=key_id, window=window, count=1)
                .on_conflict_do_update(
                    index_elements=[request_counts.c.key_id, request_counts.c.window],
                    set_={"count": request_counts.c.count + 1},
                )
                .returning(request_counts.c.count)
            ).scalar_one()
            if count == 1:  # the minute's first: the key's earlier minutes are done with
                connection.execute(
                    request_counts.delete().where(
                        request_counts.c.key_id == key_id, request_counts.c.window < window
                    )
                )
        return int(count), (window + 1) * 60.0

    def any_keys(self) -> bool:
        with reading(self.engine) as connection:
            return connection.execute(sa.select(api_keys.c.id).limit(1)).first() is not None
