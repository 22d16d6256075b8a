"""Fetching inputs: every way of reaching a private address is refused before a byte is sent (the
test server counts what reaches it), the operator's allow-list opens exactly what it names, and
size, time and redirect caps hold. Plus data URIs and upload references."""

import base64
import ipaddress
import re
import ssl
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pytest
import trustme

from ltxserve.inputs import (
    Fetcher,
    FetchError,
    FetchPolicy,
    InputResolver,
    Resolver,
    check_rules,
    decode_data_uri,
    is_public,
)
from ltxserve.request import (
    GenerationRequest,
    ImageCondition,
    InputRules,
    InvalidRequestError,
    MediaRef,
    RetakeOptions,
    Task,
)
from ltxserve.storage import open_storage
from tests.httpfiles import FileServer, Route, file_server

PAYLOAD = b"\x89PNG fake image bytes" * 100


def resolver_for(answers: dict[str, list[str]]) -> Resolver:
    def resolve(host: str, port: int) -> list[str]:
        if host in answers:
            return answers[host]
        raise FetchError(f"cannot resolve {host}")

    return resolve


@pytest.fixture
def server() -> Iterator[FileServer]:
    routes = {
        "/image.png": Route(PAYLOAD),
        "/to-loopback": Route(status=302, headers={"Location": "http://127.0.0.1:1/secret"}),
        "/to-metadata": Route(status=301, headers={"Location": "http://169.254.169.254/latest/meta-data/"}),
        "/to-private-name": Route(status=307, headers={"Location": "/image.png"}),
        "/to-file": Route(status=302, headers={"Location": "file:///etc/passwd"}),
        "/loop": Route(status=302, headers={"Location": "/loop"}),
        "/hop": Route(status=302, headers={"Location": "/image.png"}),
        "/big": Route(b"x" * 5000),
        "/big-unannounced": Route(b"x" * 50_000, chunked=True),
        "/slow": Route(b"late", stall=3.0),
        "/missing": Route(b"gone", status=404),
    }
    with file_server(routes) as running:
        yield running


def fetch(
    url: str, tmp_path: Path, policy: FetchPolicy | None = None, answers: dict[str, list[str]] | None = None
) -> bytes:
    fetcher = Fetcher(policy, resolver_for(answers)) if answers is not None else Fetcher(policy)
    try:
        return fetcher.fetch(url, tmp_path / "fetched").read_bytes()
    finally:
        fetcher.close()


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "[::1]",
        "169.254.169.254",
        "10.0.0.7",
        "192.168.1.1",
        "172.16.5.4",
        "100.64.0.1",
        "0.0.0.0",
        "[::ffff:127.0.0.1]",
        "2130706433",
        "0x7f000001",
        "127.1",
        "[fd00:ec2::254]",
        "[fe80::1]",
        "224.0.0.1",
    ],
)
def test_private_and_special_addresses_are_refused_without_a_request(
    host: str, server: FileServer, tmp_path: Path
) -> None:
    with pytest.raises(FetchError, match="private or reserved"):
        fetch(f"http://{host}:{server.port}/image.png", tmp_path)
    assert server.hits == []


def test_a_name_that_resolves_to_a_private_address_is_refused(server: FileServer, tmp_path: Path) -> None:
    with pytest.raises(FetchError, match=re.escape("evil.test resolves to 127.0.0.1")):
        fetch(server.url("/image.png", "evil.test"), tmp_path, answers={"evil.test": ["127.0.0.1"]})
    assert server.hits == []


def test_a_name_with_any_private_answer_is_refused(server: FileServer, tmp_path: Path) -> None:
    """DNS rebinding: one public answer and one private one; the private one must not be reachable."""
    answers = {"rebind.test": ["93.184.216.34", "10.0.0.1"]}
    with pytest.raises(FetchError, match=re.escape("10.0.0.1")):
        fetch(server.url("/image.png", "rebind.test"), tmp_path, answers=answers)
    assert server.hits == []


@pytest.mark.parametrize("path", ["/to-loopback", "/to-metadata"])
def test_a_redirect_to_a_private_address_is_refused(path: str, server: FileServer, tmp_path: Path) -> None:
    policy = FetchPolicy.from_allow_list(["media.test"])
    with pytest.raises(FetchError, match="private or reserved"):
        fetch(server.url(path, "media.test"), tmp_path, policy, answers={"media.test": ["127.0.0.1"]})
    assert server.hits == [path], "only the allowed host was asked"


def test_a_redirect_to_a_name_that_resolves_privately_is_refused(server: FileServer, tmp_path: Path) -> None:
    server.routes["/to-private-name"] = Route(
        status=307, headers={"Location": f"http://inside.test:{server.port}/image.png"}
    )
    policy = FetchPolicy.from_allow_list(["media.test"])
    answers = {"media.test": ["127.0.0.1"], "inside.test": ["127.0.0.1"]}
    with pytest.raises(FetchError, match=re.escape("inside.test resolves to 127.0.0.1")):
        fetch(server.url("/to-private-name", "media.test"), tmp_path, policy, answers=answers)
    assert server.hits == ["/to-private-name"]


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/x.png",
        "gopher://example.com/",
        "/etc/passwd",
        "http://user:pass@example.com/x.png",
        "http://example.com:99999/x.png",
        "http://[::1/x.png",
        "http:///x.png",
    ],
)
def test_other_schemes_credentials_and_relative_urls_are_refused(url: str, tmp_path: Path) -> None:
    with pytest.raises(FetchError):
        fetch(url, tmp_path)


def test_a_redirect_to_another_scheme_is_refused(server: FileServer, tmp_path: Path) -> None:
    policy = FetchPolicy.from_allow_list(["127.0.0.1"])
    with pytest.raises(FetchError, match="file URLs are not fetched"):
        fetch(server.url("/to-file"), tmp_path, policy)


def test_the_allow_list_opens_what_it_names_and_nothing_else(server: FileServer, tmp_path: Path) -> None:
    assert fetch(server.url("/image.png"), tmp_path, FetchPolicy.from_allow_list(["127.0.0.0/8"])) == PAYLOAD
    assert fetch(server.url("/hop"), tmp_path, FetchPolicy.from_allow_list(["127.0.0.1"])) == PAYLOAD
    by_name = FetchPolicy.from_allow_list(["media.test"])
    answers = {"media.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]}
    assert fetch(server.url("/image.png", "media.test"), tmp_path, by_name, answers) == PAYLOAD
    with pytest.raises(FetchError, match="private or reserved"):
        fetch(server.url("/image.png", "other.test"), tmp_path, by_name, answers)
    with pytest.raises(FetchError, match="private or reserved"):
        fetch(server.url("/image.png"), tmp_path, FetchPolicy.from_allow_list(["10.0.0.0/8"]))
    assert server.hits == ["/image.png", "/hop", "/image.png", "/image.png"]


def test_connect_to_sends_a_host_to_the_operators_address(server: FileServer, tmp_path: Path) -> None:
    policy = FetchPolicy(connect_to={("cdn.example.com", 80): ("127.0.0.1", server.port)})
    assert fetch("http://cdn.example.com/image.png", tmp_path, policy, answers={}) == PAYLOAD


def test_size_caps_hold_with_and_without_a_declared_length(server: FileServer, tmp_path: Path) -> None:
    policy = FetchPolicy.from_allow_list(["127.0.0.1"], max_bytes=4096)
    with pytest.raises(FetchError, match="5000 bytes is more than the 4096 allowed"):
        fetch(server.url("/big"), tmp_path, policy)
    with pytest.raises(FetchError, match="more than the 4096 bytes allowed"):
        fetch(server.url("/big-unannounced"), tmp_path, policy)


def test_a_stalled_server_times_out(server: FileServer, tmp_path: Path) -> None:
    policy = FetchPolicy.from_allow_list(["127.0.0.1"], read_timeout=0.5)
    with pytest.raises(FetchError, match="timed out"):
        fetch(server.url("/slow"), tmp_path, policy)


def test_redirect_loops_and_http_errors_are_reported(server: FileServer, tmp_path: Path) -> None:
    policy = FetchPolicy.from_allow_list(["127.0.0.1"], max_redirects=3)
    with pytest.raises(FetchError, match="more than 3 redirects"):
        fetch(server.url("/loop"), tmp_path, policy)
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch(server.url("/missing"), tmp_path, policy)


def test_https_is_verified_against_the_system_trust_store_and_ssl_cert_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    authority = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("media.test").configure_cert(context)
    policy = FetchPolicy.from_allow_list(["media.test"])
    answers = {"media.test": ["127.0.0.1"]}
    with file_server({"/image.png": Route(PAYLOAD)}, tls=context) as secure:
        with pytest.raises(FetchError, match="CERTIFICATE_VERIFY_FAILED"):
            fetch(secure.url("/image.png", "media.test"), tmp_path, policy, answers)
        bundle = tmp_path / "ca.pem"
        authority.cert_pem.write_to_path(str(bundle))
        monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
        assert fetch(secure.url("/image.png", "media.test"), tmp_path, policy, answers) == PAYLOAD
        with pytest.raises(FetchError, match=r"hostname mismatch|doesn't match|CERTIFICATE_VERIFY_FAILED"):
            fetch(
                secure.url("/image.png", "wrong.test"),
                tmp_path,
                FetchPolicy.from_allow_list(["wrong.test"]),
                {"wrong.test": ["127.0.0.1"]},
            )


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("::ffff:10.0.0.1", False),
        ("2002:7f00:1::", False),
        ("64:ff9b::a00:1", False),
        ("64:ff9b::808:808", True),
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", False),
        ("198.18.0.1", False),
        ("192.0.2.1", False),
        ("ff02::1", False),
    ],
)
def test_addresses_hiding_private_ones_are_not_public(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


def test_data_uris() -> None:
    assert decode_data_uri("data:image/png;base64," + base64.b64encode(PAYLOAD).decode(), 10_000) == PAYLOAD
    assert decode_data_uri("data:text/plain,hello%20there", 100) == b"hello there"
    for bad, why in [
        ("data:image/png;base64,@@@", "malformed"),
        ("data:image/png;base64,", "empty"),
        ("nodata", "not a data URI"),
        ("data:;base64," + "A" * 400, "more than the 100 bytes"),
    ]:
        with pytest.raises(FetchError, match=why):
            decode_data_uri(bad, 100)


def test_uploads_resolve_only_for_their_owner(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path / "files"), b"secret")
    storage.put_file("uploads/alice/abc123", _write(tmp_path / "clip.mp4", PAYLOAD))
    resolver = InputResolver(Fetcher(), storage)
    request = GenerationRequest(Task.RETAKE, "x", retake=RetakeOptions(MediaRef("upload://abc123"), 0, 2))  # type: ignore[arg-type]
    work = tmp_path / "work"
    work.mkdir()
    resolved = resolver.resolve(request, "alice", work)
    assert resolved.retake is not None and resolved.retake.video.path.read_bytes() == PAYLOAD
    with pytest.raises(InvalidRequestError, match="no upload upload://abc123") as refused:
        resolver.resolve(request, "bob", work)
    assert refused.value.field == "retake.video"


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


RULES = InputRules(image_url_bytes=1000, media_url_bytes=5000, image_data_bytes=200, media_data_bytes=400,
                   upload_bytes=len(PAYLOAD))  # fmt: skip
"""A product's rules at small sizes (the LTX API's are these in megabytes)."""


def ruled(field: str, uri: str) -> GenerationRequest:
    if field == "retake.video":
        retake = RetakeOptions(MediaRef(uri), Fraction(0), Fraction(2))
        return GenerationRequest(Task.RETAKE, "x", retake=retake, input_rules=RULES)
    first = ImageCondition(MediaRef(uri))
    return GenerationRequest(Task.IMAGE_TO_VIDEO, "x", first_frame=first, input_rules=RULES)


@pytest.mark.parametrize(
    ("field", "path", "refused"),
    [
        ("first_frame.image", "/image.png", "2100 bytes is more than the 1000 allowed"),
        ("retake.video", "/image.png", None),
        ("retake.video", "/big", None),
        ("retake.video", "/big-unannounced", "more than the 5000 bytes allowed"),
        ("retake.video", "/hop", "redirects are not followed here"),
    ],
)
def test_a_products_rules_cap_each_fetch_by_kind_and_follow_no_redirect(
    server: FileServer, tmp_path: Path, field: str, path: str, refused: str | None
) -> None:
    resolver = InputResolver(
        Fetcher(FetchPolicy.from_allow_list(["127.0.0.1"])), open_storage(str(tmp_path), b"s")
    )
    request = ruled(field, server.url(path))
    if refused is None:
        resolver.resolve(request, "alice", tmp_path)
        return
    with pytest.raises(InvalidRequestError, match=refused) as error:
        resolver.resolve(request, "alice", tmp_path)
    assert error.value.field == field


def test_a_products_rules_cap_uploads_at_their_boundary(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path / "files"), b"secret")
    storage.put_file("uploads/alice/fits", _write(tmp_path / "fits.mp4", PAYLOAD))
    storage.put_file("uploads/alice/over", _write(tmp_path / "over.mp4", PAYLOAD + b"!"))
    resolver = InputResolver(Fetcher(), storage)
    resolver.resolve(ruled("retake.video", "upload://fits"), "alice", tmp_path)
    with pytest.raises(InvalidRequestError, match=f"at most {len(PAYLOAD)} are taken here"):
        resolver.resolve(ruled("retake.video", "upload://over"), "alice", tmp_path)


@pytest.mark.parametrize(
    ("field", "uri", "refused"),
    [
        ("first_frame.image", "http://cdn.example.com/a.png", "only https"),
        ("first_frame.image", "https://93.184.216.34/a.png", "name a host"),
        ("first_frame.image", "https://[2606:2800::1]/a.png", "name a host"),
        ("first_frame.image", "https://cdn.example.com/a.png", None),
        ("first_frame.image", "data:image/png;base64," + "A" * 200, None),
        ("first_frame.image", "data:image/png;base64," + "A" * 201, "at most 200 bytes"),
        ("retake.video", "data:video/mp4;base64," + "A" * 400, None),
        ("retake.video", "data:video/mp4;base64," + "A" * 401, "at most 400 bytes"),
        ("retake.video", "upload://anything", None),
    ],
)
def test_a_products_rules_refuse_without_the_network(field: str, uri: str, refused: str | None) -> None:
    if refused is None:
        check_rules(field, uri, RULES)
        return
    with pytest.raises(FetchError, match=refused):
        check_rules(field, uri, RULES)
