"""Result storage: a local directory with signed, expiring URLs, and an S3 bucket (moto in server
mode) with presigned ones."""

import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from ltxserve.storage import Storage, StorageError, open_storage
from tests.servers import S3Server

DATA = b"\x00\x00\x00\x20ftypisom" + bytes(range(256)) * 40


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Storage:
    if request.param == "local":
        return open_storage(str(tmp_path / "files"), b"k" * 32)
    s3: S3Server = request.getfixturevalue("s3")
    for name, value in s3.environment.items():
        monkeypatch.setenv(name, value)
    return open_storage(f"s3://{s3.new_bucket()}/results?endpoint={s3.endpoint}", b"k" * 32)


def test_objects_round_trip(storage: Storage, tmp_path: Path) -> None:
    source = tmp_path / "video.mp4"
    source.write_bytes(DATA)
    assert storage.put_file("results/job/video.mp4", source) == len(DATA)
    assert storage.size("results/job/video.mp4") == len(DATA)
    assert storage.size("results/other/video.mp4") is None
    assert storage.read("results/job/video.mp4") == DATA
    assert storage.download("results/job/video.mp4", tmp_path / "copy").read_bytes() == DATA
    with pytest.raises(StorageError, match="no object"):
        storage.read("results/other/video.mp4")


def test_deleted_objects_are_gone_and_deleting_twice_is_harmless(storage: Storage, tmp_path: Path) -> None:
    source = tmp_path / "made.mp4"
    source.write_bytes(b"bytes")
    storage.put_file("results/job/1/video.mp4", source)
    storage.delete("results/job/1/video.mp4")
    assert storage.size("results/job/1/video.mp4") is None
    storage.delete("results/job/1/video.mp4")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_an_object_streams_in_chunks(storage: Storage, tmp_path: Path) -> None:
    source = tmp_path / "video.mp4"
    source.write_bytes(DATA)
    storage.put_file("results/job/video.mp4", source)
    chunks = [chunk async for chunk in storage.stream("results/job/video.mp4", chunk_bytes=4096)]
    assert b"".join(chunks) == DATA and len(chunks) > 1
    with pytest.raises(StorageError, match="no object"):
        [chunk async for chunk in storage.stream("results/other/video.mp4")]


def test_a_bucket_takes_an_upload_at_its_presigned_put_url(
    s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The LTX API's upload_url, when results live in a bucket: the client PUTs straight to it."""
    for name, value in s3.environment.items():
        monkeypatch.setenv(name, value)
    storage = open_storage(f"s3://{s3.new_bucket()}?endpoint={s3.endpoint}", b"k")
    url = storage.put_url("uploads/alice/abc", "http://unused", timedelta(hours=1))
    assert url.startswith(s3.endpoint) and "X-Amz-Expires=3600" in url
    assert httpx.put(url, content=DATA).status_code == 200
    assert storage.read("uploads/alice/abc") == DATA


def test_a_bucket_hands_out_presigned_urls_with_the_configured_lifetime(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in s3.environment.items():
        monkeypatch.setenv(name, value)
    storage = open_storage(f"s3://{s3.new_bucket()}?endpoint={s3.endpoint}", b"k", timedelta(minutes=90))
    source = tmp_path / "video.mp4"
    source.write_bytes(DATA)
    storage.put_file("results/job/video.mp4", source)
    url = storage.url("results/job/video.mp4", "http://unused")
    query = parse_qs(urlsplit(url).query)
    # moto does not enforce expiry, so the lifetime is checked where the bucket reads it
    assert query["X-Amz-Expires"] == ["5400"] and "X-Amz-Signature" in query
    response = httpx.get(url)
    assert response.status_code == 200 and response.content == DATA
    assert response.headers["content-type"] == "video/mp4"


def test_local_urls_are_signed_and_expire(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path / "files"), b"k" * 32, timedelta(hours=1))
    url = storage.url("results/job/video.mp4", "http://server:8000/")
    parts = urlsplit(url)
    assert parts.path == "/files/results/job/video.mp4" and parts.netloc == "server:8000"
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    expires = int(query["expires"])
    assert abs(expires - (time.time() + 3600)) < 5
    assert storage.check_signature("results/job/video.mp4", expires, query["signature"])
    assert not storage.check_signature("results/other/video.mp4", expires, query["signature"])
    assert not storage.check_signature("results/job/video.mp4", expires + 1, query["signature"])
    past = int(time.time()) - 1
    assert not storage.check_signature(
        "results/job/video.mp4", past, storage.signature("results/job/video.mp4", past)
    )
    other = open_storage(str(tmp_path / "files"), b"x" * 32)
    assert not other.check_signature("results/job/video.mp4", expires, query["signature"]), (
        "the secret matters"
    )


def test_storage_urls_are_checked(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="unsupported storage"):
        open_storage("ftp://host/dir", b"k")
    with pytest.raises(StorageError, match="unknown storage option"):
        open_storage("s3://bucket?endpoint=http://x&colour=red", b"k")
    assert open_storage(f"file://{tmp_path}/f", b"k").local_root == tmp_path / "f"
