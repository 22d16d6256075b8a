"""Turning a request's media references into local files: https/http URLs, data URIs and uploads.

URLs are fetched under a size cap and a deadline, and only from public addresses: every address a
host name resolves to is checked, the connection goes to the checked address (so a second DNS
answer cannot swap in another), and every redirect is checked again the same way. Private,
loopback, link-local, shared, multicast and cloud-metadata addresses are refused unless the operator
allows a network or host by name. Nothing is sent to a refused address.
"""

import base64
import binascii
import hashlib
import ipaddress
import re
import secrets
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes, urljoin, urlsplit

import httpcore

from ltxserve.request import GenerationRequest, InputRules, InvalidRequestError, MediaRef
from ltxserve.storage import Storage

UPLOAD_SCHEME = "upload://"
_UPLOAD_ID = r"[A-Za-z0-9-]+"
"""What the upload endpoint makes an id of (letters, digits, dashes)."""
UPLOAD_REFERENCE = re.compile(re.escape(UPLOAD_SCHEME) + f"({_UPLOAD_ID})")
MAX_URL_LENGTH = 2048
"""Characters in a URL given as input (data URIs are bounded by their bytes instead)."""
FETCH_SCHEMES = ("https", "http")
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]
"""(host, port) -> the addresses it resolves to."""

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class FetchError(Exception):
    """A URL that was not fetched, and why; `cause` sorts it for the metrics (dns, address, redirect,
    http_status, too_large, timeout, connection; refused for the rest)."""

    def __init__(self, message: str, cause: str = "refused") -> None:
        super().__init__(message)
        self.cause = cause


def system_resolver(host: str, port: int) -> list[str]:
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise FetchError(f"cannot resolve {host}: {error.strerror}", "dns") from None
    return list(dict.fromkeys(str(answer[4][0]) for answer in answers))


def is_public(address: IpAddress) -> bool:
    """A globally routable unicast address, also when it hides an IPv4 address inside IPv6."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]
        if embedded is not None and not is_public(embedded):
            return False
    return address.is_global and not address.is_multicast


@dataclass(frozen=True)
class FetchPolicy:
    """What the operator allows: extra networks and host names, and the caps on every fetch."""

    allowed_networks: tuple[IpNetwork, ...] = ()
    allowed_hosts: frozenset[str] = frozenset()
    connect_to: dict[tuple[str, int], tuple[str, int]] = field(default_factory=dict)
    """(host, port) -> (address, port) to connect to instead, as curl's --connect-to; the operator
    chose these, so they are trusted."""
    max_bytes: int = 1 << 30
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    deadline: float = 300.0
    """Seconds for the whole fetch, redirects included."""
    max_redirects: int = 5

    @classmethod
    def from_allow_list(cls, entries: Iterable[str], **caps: Any) -> "FetchPolicy":
        """Entries are networks or addresses ("10.0.0.0/8", "127.0.0.1") or host names."""
        networks: list[IpNetwork] = []
        hosts: set[str] = set()
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                hosts.add(entry.strip().lower().rstrip("."))
        return cls(tuple(networks), frozenset(hosts), **caps)

    def address_allowed(self, address: IpAddress) -> bool:
        return is_public(address) or any(address in network for network in self.allowed_networks)

    def host_allowed(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.allowed_hosts


class _CheckedBackend(httpcore.SyncBackend):
    """Connects only to addresses the policy allows, and to the very address it checked."""

    def __init__(self, policy: FetchPolicy, resolver: Resolver) -> None:
        self._policy = policy
        self._resolver = resolver

    def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        if (host, port) in self._policy.connect_to:
            address, port = self._policy.connect_to[(host, port)]
            return super().connect_tcp(address, port, *args, **kwargs)
        addresses = [ipaddress.ip_address(answer.split("%")[0]) for answer in self._resolver(host, port)]
        if not addresses:
            raise FetchError(f"{host} resolves to no address", "dns")
        if not self._policy.host_allowed(host):
            refused = [address for address in addresses if not self._policy.address_allowed(address)]
            if refused:
                raise FetchError(f"{host} resolves to {refused[0]}, a private or reserved address", "address")
        return super().connect_tcp(str(addresses[0]), port, *args, **kwargs)


def check_url(url: str, policy: FetchPolicy) -> None:
    """Refuse what can be refused without the network: the length, the scheme, and a literal address
    in any spelling (127.1, 0x7f000001, 2130706433 and 0177.0.0.1 are all 127.0.0.1)."""
    if len(url) > MAX_URL_LENGTH:
        raise FetchError(f"the URL is {len(url)} characters; at most {MAX_URL_LENGTH}")
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise FetchError(f"not a valid URL: {error}") from None
    if parts.scheme not in FETCH_SCHEMES:
        raise FetchError(f"{parts.scheme or 'a relative'} URLs are not fetched; use https or http")
    host = parts.hostname
    if not host:
        raise FetchError("the URL has no host")
    if parts.username or parts.password:
        raise FetchError("URLs with credentials are not fetched")
    address = literal_address(host)
    if address is None:
        return
    if not policy.address_allowed(address) and (host, port) not in policy.connect_to:
        raise FetchError(f"{address} is a private or reserved address", "address")


def check_rules(field: str, uri: str, rules: InputRules | None) -> None:
    """Refuse what a product's input rules refuse without the network (the scheme, an address literal,
    a data URI's size)."""
    if rules is None or uri.startswith(UPLOAD_SCHEME):
        return
    if uri.startswith("data:"):
        if len(uri.partition(",")[2]) > rules.data_bytes(field):
            raise FetchError(f"a data URI here holds at most {rules.data_bytes(field)} bytes, encoded")
        return
    parts = urlsplit(uri)
    if rules.https_only and parts.scheme != "https":
        raise FetchError("only https URLs are taken here")
    if rules.host_names_only and parts.hostname and literal_address(parts.hostname) is not None:
        raise FetchError("URLs name a host here, not an address")


def literal_address(host: str) -> IpAddress | None:
    """The address a host name spells, as resolvers read it (dotted, short, hex, octal or one
    number for IPv4), or None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


class Fetcher:
    def __init__(self, policy: FetchPolicy | None = None, resolver: Resolver = system_resolver) -> None:
        self.policy = policy or FetchPolicy()
        # The system trust store, so SSL_CERT_FILE / SSL_CERT_DIR can add an internal CA.
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl.create_default_context(),
            network_backend=_CheckedBackend(self.policy, resolver),
            max_connections=16,
        )

    def close(self) -> None:
        self._pool.close()

    def fetch(
        self, url: str, destination: Path, max_bytes: int | None = None, redirects: bool = True
    ) -> Path:
        """Download `url` to `destination`, following redirects that pass the same checks (unless
        `redirects` is False); at most `max_bytes`, if less than the policy's cap."""
        policy = self.policy
        limit = min(policy.max_bytes, max_bytes or policy.max_bytes)
        follow = policy.max_redirects if redirects else 0
        deadline = time.monotonic() + policy.deadline
        for _ in range(follow + 1):
            check_url(url, policy)
            location = self._get(url, destination, deadline, limit)
            if location is None:
                return destination
            url = urljoin(url, location)
        if not redirects:
            raise FetchError("the URL redirects; redirects are not followed here", "redirect")
        raise FetchError(f"more than {policy.max_redirects} redirects", "redirect")

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """POST `body` to `url` under the same checks as a fetch (no redirects followed); the status."""
        check_url(url, self.policy)
        with _network_errors():
            response = self._pool.request(
                "POST",
                url,
                headers=list(headers.items()),
                content=body,
                extensions={"timeout": self._timeouts},
            )
        return response.status

    @property
    def _timeouts(self) -> dict[str, float]:
        policy = self.policy
        return {"connect": policy.connect_timeout, "read": policy.read_timeout,
                "write": policy.read_timeout, "pool": policy.connect_timeout}  # fmt: skip

    def _get(self, url: str, destination: Path, deadline: float, max_bytes: int) -> str | None:
        """Fetch one URL; the redirect target, or None once the body is in `destination`."""
        policy = self.policy
        headers = [("User-Agent", "ltxserve"), ("Accept-Encoding", "identity")]
        timeouts = {"timeout": self._timeouts}
        with (
            _network_errors(),
            self._pool.stream("GET", url, headers=headers, extensions=timeouts) as response,
        ):
            fields = {name.decode().lower(): value.decode("latin-1") for name, value in response.headers}
            if response.status in (301, 302, 303, 307, 308):
                if "location" not in fields:
                    raise FetchError(f"HTTP {response.status} without a Location", "http_status")
                return fields["location"]
            if response.status != 200:
                raise FetchError(f"HTTP {response.status}", "http_status")
            length = fields.get("content-length", "")
            if length.isascii() and length.isdigit() and int(length) > max_bytes:
                raise FetchError(f"{int(length)} bytes is more than the {max_bytes} allowed", "too_large")
            received = 0
            with destination.open("wb") as sink:
                for chunk in response.iter_stream():
                    received += len(chunk)
                    if received > max_bytes:
                        raise FetchError(f"more than the {max_bytes} bytes allowed", "too_large")
                    if time.monotonic() > deadline:
                        raise FetchError(f"not fetched within {policy.deadline:g} s", "timeout")
                    sink.write(chunk)
            return None


@contextmanager
def _network_errors() -> Iterator[None]:
    """httpcore's failures as FetchErrors."""
    try:
        yield
    except httpcore.TimeoutException:
        raise FetchError("timed out", "timeout") from None
    except (httpcore.NetworkError, httpcore.ProtocolError) as error:
        raise FetchError(f"connection failed: {error or type(error).__name__}", "connection") from None
    except httpcore.UnsupportedProtocol as error:
        raise FetchError(str(error)) from None


def decode_data_uri(uri: str, max_bytes: int) -> bytes:
    """The bytes of a `data:[type][;base64],payload` URI."""
    header, comma, payload = uri.partition(",")
    if not header.startswith("data:") or not comma:
        raise FetchError("not a data URI (data:[type][;base64],payload)")
    if len(payload) > max_bytes * 4 // 3 + 4:
        raise FetchError(f"the data URI holds more than the {max_bytes} bytes allowed")
    if header.endswith(";base64"):
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise FetchError("the data URI's base64 payload is malformed") from None
    else:
        data = unquote_to_bytes(payload)
    if len(data) > max_bytes:
        raise FetchError(f"the data URI holds more than the {max_bytes} bytes allowed")
    if not data:
        raise FetchError("the data URI is empty")
    return data


def upload_key(owner: str, upload_id: str) -> str:
    return f"uploads/{owner}/{upload_id}"


def upload_owner(key: str) -> str:
    """Whose upload is stored at `key` (one `upload_key` made)."""
    return key.split("/", 2)[1]


def upload_id(uri: str) -> str:
    """The id in an upload:// reference (or the id itself)."""
    identifier = uri.removeprefix(UPLOAD_SCHEME)
    if re.fullmatch(_UPLOAD_ID, identifier) is None:
        raise FetchError("an upload reference is upload://<id>, as returned by the upload endpoint")
    return identifier


@dataclass(frozen=True)
class InputResolver:
    """Makes every media reference of a request a local file in a job's working directory; LoRAs
    in a cache shared by the jobs of this machine, when there is one."""

    fetcher: Fetcher
    storage: Storage
    lora_cache: Path | None = None
    """LoRAs fetched once per source and kept by content (sha256.safetensors): a LoRA asked for
    again is not fetched again, and one file serves every source that gave the same bytes."""

    def resolve(self, request: GenerationRequest, owner: str, workdir: Path) -> GenerationRequest:
        local: dict[str, MediaRef] = {}
        for name, ref in request.media_inputs.items():
            destination = workdir / name.replace(".", "-")
            try:
                if name.startswith("loras.") and self.lora_cache is not None:
                    path = self._cached(ref.uri, owner, self.lora_cache)
                else:
                    path = self._resolve(ref.uri, owner, destination, _Caps.of(name, request.input_rules))
            except FetchError as error:
                # imported here: the command line must not load prometheus-client before `serve`
                # has chosen its multiprocess mode (`ltxserve.metrics`)
                from ltxserve import metrics

                metrics.fetch_failures.labels(error.cause).inc()
                raise InvalidRequestError(name, str(error)) from None
            local[name] = MediaRef.file(path)
        return request.with_media(local)

    def _cached(self, uri: str, owner: str, cache: Path) -> Path:
        # uploads are private to their owner: the same upload id of another owner is another file
        source = f"{owner}\n{uri}" if uri.startswith(UPLOAD_SCHEME) else uri
        index = cache / "sources" / hashlib.sha256(source.encode()).hexdigest()
        if index.is_file() and (kept := cache / index.read_text().strip()).is_file():
            return kept
        index.parent.mkdir(parents=True, exist_ok=True)
        # fetched into the cache directory itself, so that moving it into place is atomic: workers
        # sharing the cache see a whole file or none
        fetching = cache / f".fetching-{secrets.token_hex(8)}"
        try:
            self._resolve(uri, owner, fetching)
            digest = hashlib.sha256()
            with fetching.open("rb") as stream:
                while chunk := stream.read(1 << 20):
                    digest.update(chunk)
            kept = cache / f"{digest.hexdigest()}.safetensors"
            fetching.replace(kept)
        finally:
            fetching.unlink(missing_ok=True)
        staged = index.with_name(f".{index.name}-{secrets.token_hex(8)}")
        staged.write_text(kept.name)
        staged.replace(index)
        return kept

    def _resolve(self, uri: str, owner: str, destination: Path, caps: "_Caps | None" = None) -> Path:
        caps = caps or _Caps()
        if uri.startswith(UPLOAD_SCHEME):
            key = upload_key(owner, upload_id(uri))
            size = self.storage.size(key)
            if size is None:
                raise FetchError(f"no upload {uri} (uploads are visible only to the key that made them)")
            if caps.upload_bytes is not None and size > caps.upload_bytes:
                raise FetchError(f"the upload is {size} bytes; at most {caps.upload_bytes} are taken here")
            return self.storage.download(key, destination)
        if uri.startswith("data:"):
            destination.write_bytes(decode_data_uri(uri, self.fetcher.policy.max_bytes))
            return destination
        try:
            return self.fetcher.fetch(uri, destination, caps.url_bytes, caps.redirects)
        except FetchError as error:
            raise FetchError(f"could not fetch {_short(uri)}: {error}", error.cause) from None


@dataclass(frozen=True)
class _Caps:
    """One input's share of a product's rules, as the fetch applies them."""

    url_bytes: int | None = None
    upload_bytes: int | None = None
    redirects: bool = True

    @classmethod
    def of(cls, field: str, rules: InputRules | None) -> "_Caps":
        if rules is None:
            return cls()
        return cls(rules.url_bytes(field), rules.upload_bytes, rules.redirects)


def _short(url: str) -> str:
    return url if len(url) <= 120 else url[:117] + "..."
