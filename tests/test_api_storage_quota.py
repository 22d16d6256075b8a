"""No key can fill the disk: the bytes of uploads a key keeps are bounded by its storage quota (its own,
else the server's), whichever way they arrive: a multipart submission on any surface, /api/uploads, a
data URI moved into storage, the LTX API's signed PUT, an OpenAI remix's copy. Over the quota is a 413
in the surface's envelope and nothing is kept; deleting uploads makes room. Real HTTP throughout."""

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest

from ltxserve.api.auth import LOCAL_OWNER
from ltxserve.keys import KeyLimits
from tests.inprocess import api

pytestmark = pytest.mark.anyio

QUOTA = 10_000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def stored_bytes(root: Path | None) -> int:
    assert root is not None
    return sum(path.stat().st_size for path in (root / "uploads").rglob("*") if path.is_file())


async def test_uploads_fit_up_to_the_quota_byte_for_byte_and_one_more_is_refused(tmp_path: Path) -> None:
    async with api(tmp_path, over_http=True, storage_quota_per_key=QUOTA) as served:
        first = await served.http.post("/api/uploads", content=b"a" * 6_000)
        assert first.status_code == 200, first.text
        exactly = await served.http.post("/api/uploads", files={"file": ("b.mp4", b"b" * 4_000)})
        assert exactly.status_code == 200, "an upload that fills the quota exactly is taken"
        over = await served.http.post("/api/uploads", content=b"c")
        assert over.status_code == 413, over.text
        error = over.json()["error"]
        assert error["code"] == "storage_quota_exceeded" and "10000 bytes of uploads" in error["message"]
        listed = (await served.http.get("/api/uploads")).json()
        assert (listed["used"], listed["quota"]) == (10_000, QUOTA)
        assert [item["size"] for item in listed["data"]] == [6_000, 4_000]

        deleted = await served.http.delete(f"/api/uploads/{first.json()['id']}")
        assert deleted.status_code == 200 and deleted.json()["deleted"] is True
        again = await served.http.delete(f"/api/uploads/{first.json()['id']}")
        assert again.status_code == 404
        assert (await served.http.post("/api/uploads", content=b"c" * 6_000)).status_code == 200
        assert stored_bytes(served.service.storage.local_root) == QUOTA


async def test_uploads_sent_at_once_never_pass_the_quota_together(tmp_path: Path) -> None:
    async with api(tmp_path, over_http=True, storage_quota_per_key=QUOTA) as served:
        answers = await asyncio.gather(
            *(served.http.post("/api/uploads", content=bytes([n]) * 3_000) for n in range(8))
        )
        taken = [answer for answer in answers if answer.status_code == 200]
        assert {answer.status_code for answer in answers} <= {200, 413}
        assert len(taken) <= 3 and len(answers) - len(taken) >= 5
        assert stored_bytes(served.service.storage.local_root) == 3_000 * len(taken) <= QUOTA


SUBMISSIONS = {
    "oxen": ("/api/ai/queue", {"model": "ltx-2-3-pro-extend-video", "prompt": "x"}, "input_video"),
    "fal": ("/fal/queue/fal-ai/ltx-2.3/extend-video", {"prompt": "x"}, "video_url"),
    "ltx": ("/v2/extend", {"duration": "2"}, "video_uri"),
    "openai": ("/v1/videos", {"prompt": "x"}, "input_reference"),
}


@pytest.mark.parametrize("surface", SUBMISSIONS)
async def test_a_multipart_submission_over_the_quota_is_a_413_in_the_surfaces_envelope_and_keeps_nothing(
    tmp_path: Path, surface: str
) -> None:
    route, fields, media_field = SUBMISSIONS[surface]
    async with api(tmp_path, over_http=True, storage_quota_per_key=QUOTA) as served:
        assert (await served.http.post("/api/uploads", content=b"k" * 9_000)).status_code == 200
        files = {media_field: ("clip.mp4", b"\x00" * 2_000, "video/mp4")}
        response = await served.http.post(route, data=fields, files=files)
        assert response.status_code == 413, response.text
        body = response.json()
        message = {
            "oxen": lambda: body["status"] == "error" and body["error"]["title"],
            "fal": lambda: body["detail"],
            "ltx": lambda: body["error"]["type"] == "request_too_large" and body["error"]["message"],
            "openai": lambda: body["error"]["message"],
        }[surface]()
        assert "quota" in str(message), body
        assert stored_bytes(served.service.storage.local_root) == 9_000, "the refused files were not kept"
        assert not await asyncio.to_thread(served.service.store.list_jobs, LOCAL_OWNER)


async def test_a_data_uri_that_does_not_fit_is_refused_and_queues_nothing(tmp_path: Path) -> None:
    async with api(tmp_path, over_http=True, storage_quota_per_key=QUOTA) as served:
        image = "data:image/png;base64," + base64.b64encode(b"\x89PNG" + b"\x00" * 12_000).decode()
        body = {"model": "ltx-2-3-pro", "prompt": "x", "input_image": image}
        response = await served.http.post("/api/ai/queue", json=body)
        assert response.status_code == 413 and response.json()["error"]["type"] == "storage_quota_exceeded"
        assert not await asyncio.to_thread(served.service.store.list_jobs, LOCAL_OWNER)
        assert stored_bytes(served.service.storage.local_root) == 0


async def test_the_ltx_apis_upload_link_takes_only_what_fits(tmp_path: Path) -> None:
    async with api(tmp_path, over_http=True, storage_quota_per_key=QUOTA) as served:
        slot = (await served.http.post("/v1/upload")).json()
        too_big = await served.http.put(slot["upload_url"], content=b"x" * (QUOTA + 1))
        assert too_big.status_code == 413, too_big.text
        assert (await served.http.put(slot["upload_url"], content=b"x" * QUOTA)).status_code == 200
        full = await served.http.post("/v1/upload")
        assert full.status_code == 413 and full.json()["error"]["type"] == "request_too_large"
        assert stored_bytes(served.service.storage.local_root) == QUOTA


async def test_an_openai_remix_counts_its_copy_of_the_source(tmp_path: Path) -> None:
    async with api(tmp_path, over_http=True, worker=True) as served:
        made = await served.http.post("/v1/videos", json={"prompt": "x", "seconds": "2", "size": "320x180"})
        video_id = made.json()["id"]
        for _ in range(600):
            if (await served.http.get(f"/v1/videos/{video_id}")).json()["status"] == "completed":
                break
            await asyncio.sleep(0.05)
        result = await asyncio.to_thread(served.service.store.get, video_id, LOCAL_OWNER)
        assert result is not None and result.result is not None
        size = await asyncio.to_thread(served.service.storage.size, result.result["key"])
        assert size is not None
        object.__setattr__(served.service.settings, "storage_quota_per_key", size - 1)
        remix = await served.http.post(f"/v1/videos/{video_id}/remix", json={"prompt": "y"})
        assert remix.status_code == 413, remix.text
        assert "quota" in remix.json()["error"]["message"]
        assert stored_bytes(served.service.storage.local_root) == 0


async def test_a_keys_own_quota_overrides_the_servers_and_keys_count_only_their_own(tmp_path: Path) -> None:
    async with api(tmp_path, over_http=True, auth=True, storage_quota_per_key=QUOTA) as served:
        keys = served.service.keys
        assert keys is not None
        _, small = await asyncio.to_thread(keys.create, "small", KeyLimits(storage_quota=1_000))
        _, default = await asyncio.to_thread(keys.create, "default")

        def as_key(secret: str) -> dict[str, Any]:
            return {"headers": {"Authorization": f"Bearer {secret}"}}

        filled = await served.http.post("/api/uploads", content=b"s" * 1_000, **as_key(small))
        assert filled.status_code == 200
        assert (await served.http.post("/api/uploads", content=b"s", **as_key(small))).status_code == 413
        taken = await served.http.post("/api/uploads", content=b"d" * QUOTA, **as_key(default))
        assert taken.status_code == 200, "another key's uploads take none of this key's room"
        listed = (await served.http.get("/api/uploads", **as_key(small))).json()
        assert (listed["used"], listed["quota"], len(listed["data"])) == (1_000, 1_000, 1)
        other = await served.http.delete(f"/api/uploads/{taken.json()['id']}", **as_key(small))
        assert other.status_code == 404, "a key cannot delete another key's upload"
        read = await served.http.get(f"/api/uploads/{taken.json()['id']}", **as_key(default))
        assert (read.status_code, read.content) == (200, b"d" * QUOTA), "a key reads its own upload back"
        assert (
            await served.http.get(f"/api/uploads/{taken.json()['id']}", **as_key(small))
        ).status_code == 404
        assert (await served.http.get("/api/uploads/not-an-id", **as_key(default))).status_code == 404

        await asyncio.to_thread(lambda: keys.set_limits("small", storage_quota=None))
        assert (await served.http.post("/api/uploads", content=b"s", **as_key(small))).status_code == 200


def test_a_keys_quota_survives_in_the_database(tmp_path: Path) -> None:
    from ltxserve.database import open_database
    from ltxserve.keys import KeyLimits, KeyStore

    url = f"sqlite:///{tmp_path / 'keys.db'}"
    key, _ = KeyStore(open_database(url)).create("k", KeyLimits(storage_quota=5 << 20, max_unfinished=3))
    reopened = KeyStore(open_database(url))
    assert reopened.limits(key.id) == KeyLimits(storage_quota=5 << 20, max_unfinished=3)
    assert [item.limits.storage_quota for item in reopened.list_keys()] == [5 << 20]


async def test_the_upload_response_still_names_the_upload(tmp_path: Path) -> None:
    async with api(tmp_path, over_http=True) as served:
        answer = await served.http.post("/api/uploads", content=b"abc")
        body = answer.json()
        assert body["uri"] == f"upload://{body['id']}" and body["size"] == 3 and body["created_at"] > 0
