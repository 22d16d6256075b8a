"""Where results and uploads live: a local directory (embedded) or an S3-compatible bucket
(scale-out), both through obstore, and the expiring URLs that hand a result to a client.

A local store's URLs point at this server's `/files/` route and carry an HMAC signature and an
expiry; a bucket's are presigned by the bucket itself, so downloads never pass through the API.
"""

import contextlib
import hashlib
import hmac
import mimetypes
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import obstore
from obstore.exceptions import NotFoundError
from obstore.store import LocalStore, S3Store

if TYPE_CHECKING:
    from obstore import Attributes
    from obstore.store import ObjectStore

DEFAULT_URL_LIFETIME = timedelta(hours=24)


class StorageError(Exception):
    """A storage URL or operation that cannot work."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    modified_at: float


class Storage:
    """Objects by key ("results/<job>/video.mp4", "uploads/<owner>/<id>")."""

    def __init__(self, store: "ObjectStore", secret: bytes, url_lifetime: timedelta = DEFAULT_URL_LIFETIME):
        self._store = store
        self._secret = secret
        self.url_lifetime = url_lifetime

    @property
    def local_root(self) -> Path | None:
        """The directory of a local store (whose files this server serves itself), else None."""
        if isinstance(self._store, LocalStore) and self._store.prefix is not None:
            return Path(self._store.prefix)
        return None

    def put_file(self, key: str, path: Path) -> int:
        """Store a file under `key`; its size."""
        with path.open("rb") as source:
            self.put(key, source)
        return path.stat().st_size

    def put(self, key: str, source: BinaryIO) -> None:
        obstore.put(self._store, key, source, attributes=self._attributes(key))

    def _attributes(self, key: str) -> "Attributes | None":
        """A bucket serves presigned downloads itself, so it must know the type; a local store's
        files are typed by the route that serves them."""
        if not isinstance(self._store, S3Store):
            return None
        return {"Content-Type": mimetypes.guess_type(key)[0] or "application/octet-stream"}

    def size(self, key: str) -> int | None:
        """The object's size, or None if there is no such object."""
        try:
            return int(obstore.head(self._store, key)["size"])
        except (FileNotFoundError, NotFoundError):
            return None

    def listing(self, prefix: str) -> list[StoredObject]:
        """Every object whose key starts with `prefix` (a folder: ends with "/"), oldest first."""
        found = [
            StoredObject(item["path"], int(item["size"]), item["last_modified"].timestamp())
            for batch in obstore.list(self._store, prefix=prefix)
            for item in batch
        ]
        return sorted(found, key=lambda item: (item.modified_at, item.key))

    def read(self, key: str) -> bytes:
        try:
            return bytes(obstore.get(self._store, key).bytes())
        except (FileNotFoundError, NotFoundError):
            raise StorageError(f"no object {key}") from None

    def copy(self, source: str, destination: str) -> None:
        try:
            obstore.copy(self._store, source, destination)
        except (FileNotFoundError, NotFoundError):
            raise StorageError(f"no object {source}") from None

    def delete(self, key: str) -> None:
        """Remove the object; one already gone is not an error."""
        with contextlib.suppress(FileNotFoundError, NotFoundError):
            obstore.delete(self._store, key)

    async def stream(self, key: str, chunk_bytes: int = 1 << 20) -> AsyncIterator[bytes]:
        """The object's bytes in chunks, read as they are sent (never whole in memory)."""
        try:
            result = await obstore.get_async(self._store, key)
        except (FileNotFoundError, NotFoundError):
            raise StorageError(f"no object {key}") from None
        async for chunk in result.stream(min_chunk_size=chunk_bytes):
            yield bytes(chunk)

    def download(self, key: str, destination: Path) -> Path:
        """Copy the object to a local file."""
        try:
            result = obstore.get(self._store, key)
        except (FileNotFoundError, NotFoundError):
            raise StorageError(f"no object {key}") from None
        with destination.open("wb") as sink:
            for chunk in result.stream():
                sink.write(chunk)
        return destination

    def url(self, key: str, base_url: str, lifetime: timedelta | None = None) -> str:
        """A URL a client can GET the object from until it expires."""
        lifetime = lifetime or self.url_lifetime
        if isinstance(self._store, S3Store):
            return str(obstore.sign(self._store, "GET", key, lifetime))
        expires = int(time.time() + lifetime.total_seconds())
        query = urlencode({"expires": expires, "signature": self.signature(key, expires)})
        return f"{base_url.rstrip('/')}/files/{quote(key)}?{query}"

    def put_url(self, key: str, base_url: str, lifetime: timedelta) -> str:
        """A URL a client can PUT the object's bytes to until it expires."""
        if isinstance(self._store, S3Store):
            return str(obstore.sign(self._store, "PUT", key, lifetime))
        expires = int(time.time() + lifetime.total_seconds())
        query = urlencode({"expires": expires, "signature": self.signature(key, expires, "PUT")})
        return f"{base_url.rstrip('/')}/files/{quote(key)}?{query}"

    def signature(self, key: str, expires: int, method: str = "GET") -> str:
        # a GET link never authorises a PUT: the method is signed (GET links keep their old form)
        message = f"{key}\n{expires}" if method == "GET" else f"{method}\n{key}\n{expires}"
        return hmac.new(self._secret, message.encode(), hashlib.sha256).hexdigest()

    def check_signature(self, key: str, expires: int, signature: str, method: str = "GET") -> bool:
        expected = self.signature(key, expires, method)
        return expires >= time.time() and hmac.compare_digest(expected, signature)


def open_storage(url: str, secret: bytes, url_lifetime: timedelta = DEFAULT_URL_LIFETIME) -> Storage:
    """`url` is a directory (path or file:// URL) or s3://bucket[/prefix][?endpoint=...&region=...];
    S3 credentials come from the usual AWS_* environment variables."""
    parts = urlsplit(url)
    if parts.scheme in ("", "file"):
        root = Path(parts.path if parts.scheme else url).expanduser().resolve()
        root.mkdir(parents=True, exist_ok=True)
        return Storage(LocalStore(root), secret, url_lifetime)
    if parts.scheme == "s3":
        options = dict(parse_qsl(parts.query))
        unknown = set(options) - {"endpoint", "region"}
        if unknown:
            names = ", ".join(sorted(unknown))
            raise StorageError(f"unknown storage option(s) {names}: use endpoint, region")
        config: dict[str, str] = {}
        if "endpoint" in options:
            config["endpoint"] = options["endpoint"]
        if "region" in options:
            config["region"] = options["region"]
        allow_http = options.get("endpoint", "").startswith("http://")
        store = S3Store(
            parts.netloc,
            prefix=parts.path.strip("/") or None,
            client_options={"allow_http": allow_http},
            **config,  # type: ignore[arg-type]
        )
        return Storage(store, secret, url_lifetime)
    raise StorageError(f"unsupported storage {url!r}: use a directory or s3://bucket/prefix")
