"""The Oxen surface over real HTTP, against `ltxserve serve` on each backend (SQLite + a directory,
PostgreSQL + S3): keys, models, validation at submit time, the queue, sync generation, events,
uploads, and one key never seeing another's work."""

import base64
import json
import socket
import threading
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ltxserve import media
from tests.conftest import Running
from tests.measure import play
from tests.service import Client, create_key, events, keys, until_subscribed

RETAKE = "ltx-2-3-pro-retake"


def upload(client: Client, path: Path) -> str:
    response = client.post("/api/uploads", content=path.read_bytes())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["size"] == path.stat().st_size and body["uri"] == f"upload://{body['id']}"
    return str(body["uri"])


def retake_body(video: str, **more: Any) -> dict[str, Any]:
    return {"model": RETAKE, "prompt": "rain", "input_video": video, **more}


def download(url: str, path: Path) -> media.MediaInfo:
    response = httpx.get(url, timeout=60)
    assert response.status_code == 200, response.text
    path.write_bytes(response.content)
    return media.probe(path)


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "error" and body["status_message"] == body["error"]["type"]
    return body["error"]  # type: ignore[no-any-return]


def test_health_says_the_weights_are_the_demo_set(service: Running) -> None:
    health = httpx.get(f"{service.serve.url}/health").json()
    assert health["status"] == "ok" and health["demo"] is True and "noise" in health["notice"]
    assert health["database"] == service.backend.database.split(":")[0]
    assert health["storage"] == ("s3" if service.backend.storage.startswith("s3://") else "local")
    assert "demo weights" in service.serve.log.read_text()


def test_requests_need_a_valid_active_key(service: Running) -> None:
    anonymous = Client(service.serve.url, None)
    error = error_of(anonymous.get("/api/ai/queue"), 401)
    assert error["type"] == "unauthenticated"
    assert anonymous.get("/api/ai/queue").headers["www-authenticate"] == "Bearer"
    error_of(Client(service.serve.url, "ltx_nothing_real").get("/api/ai/queue"), 401)
    carol_key = create_key("carol", service.backend, service.data_dir)
    carol = Client(service.serve.url, carol_key)
    assert carol.get("/api/ai/queue").status_code == 200
    listed = keys(service.backend, service.data_dir, "list")
    assert "carol" in listed and "bob" in listed and carol_key not in listed, "secrets are never shown again"
    keys(service.backend, service.data_dir, "revoke", "carol")
    assert "unknown or revoked" in error_of(carol.get("/api/ai/queue"), 401)["detail"]


def test_a_keys_storage_quota_and_seconds_a_day_set_by_the_operator_hold_in_serve(service: Running) -> None:
    secret = keys(
        service.backend, service.data_dir, "create", "quota-keeper", "--storage-quota", "2KB"
    ).strip()
    keeper = Client(service.serve.url, secret)
    assert "storage quota: 2000 bytes" in keys(service.backend, service.data_dir, "list")
    refused = keeper.post("/api/uploads", content=b"x" * 2_001)
    assert refused.status_code == 413, refused.text
    error = refused.json()["error"]
    assert error["code"] == "storage_quota_exceeded" and "quota is 2000" in error["message"]
    assert keeper.post("/api/uploads", content=b"x" * 2_000).status_code == 200
    keys(service.backend, service.data_dir, "set", "quota-keeper", "--storage-quota", "default")
    assert keeper.post("/api/uploads", content=b"x" * 2_001).status_code == 200, "the server's default again"
    keys(service.backend, service.data_dir, "set", "quota-keeper", "--seconds-per-day", "5")
    assert "video a day: 5 s" in keys(service.backend, service.data_dir, "list")
    six_seconds = {"model": "ltx-2-3-pro", "prompt": "x", "duration": 6}
    error = error_of(keeper.post("/api/ai/queue", json=six_seconds), 429)
    assert error["type"] == "daily_limit_exceeded" and "5 s a day" in error["title"]


def test_metrics_add_up_the_api_and_its_worker_processes(service: Running) -> None:
    """`serve` runs its workers in processes of their own: what they record (here, an input they
    could not fetch) reaches the API's /metrics with what the API records itself."""
    alice = service.alice
    (job,) = alice.enqueue(retake_body("https://nowhere.invalid/clip.mp4", retake_start_time=1))
    assert alice.wait(job)["status"] == "failed"
    exposed = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(httpx.get(f"{service.serve.url}/metrics").text)
        for sample in family.samples
    }
    assert exposed[("ltxserve_fetch_failures_total", (("cause", "dns"),))] >= 1, "counted in the worker"
    posted = ("method", "POST"), ("route", "/api/ai/queue"), ("status", "200")
    assert exposed[("ltxserve_http_request_duration_seconds_count", posted)] >= 1, "counted in the API"
    assert exposed[("ltxserve_workers_up", ())] >= 1


def test_models_are_listed_with_their_oxen_request_schemas(service: Running) -> None:
    listed = service.alice.get("/api/ai/models").json()
    assert listed["object"] == "list"
    assert [model["id"] for model in listed["data"]] == [
        "ltx-2-3-pro",
        "ltx-2-3-pro-text-to-video",
        "ltx-2-3-fast",
        "ltx-2-3-pro-extend-video",
        "ltx-2-3-pro-audio-to-video",
        RETAKE,
    ]
    pro = service.alice.get("/api/ai/models/ltx-2-3-pro").json()
    assert pro["object"] == "model" and pro["endpoint"] == "/videos/generate"
    assert pro["pricing"]["method"] == "per_video_output_second"
    assert pro["pricing"]["cost_per_second_by_resolution"] == {"1080p": 0.06, "1440p": 0.12, "2160p": 0.24}
    schema = pro["json_request_schema"]
    assert schema == pro["request_schema"]
    properties = schema["properties"]
    assert {"input_image", "last_frame_image", "task"} <= set(properties) and "image" not in properties
    assert properties["resolution"]["enum"] == ["1080p", "2k", "4k"]
    assert properties["camera_motion"]["default"] == "none" and properties["fps"]["default"] == 25
    assert properties["task"]["enum"][0] == "image_to_video" and schema["required"] == ["prompt"]
    retake = service.alice.get(f"/api/ai/models/{RETAKE}").json()["json_request_schema"]
    assert {"input_video", "retake_start_time", "retake_duration", "retake_mode"} <= set(retake["properties"])
    assert sorted(retake["required"]) == ["input_video", "prompt"]
    assert error_of(service.alice.get("/api/ai/models/ltx-9"), 404)["type"] == "resource_not_found"


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"prompt": "x"}, "model", "required"),
        ({"model": "ltx-9", "prompt": "x"}, "model", "unknown model"),
        ({"model": "ltx-2-3-pro"}, "prompt", "required"),
        ({"model": "ltx-2-3-pro", "prompt": "x", "duration": 7}, "duration", "6, 8 or 10"),
        ({"model": "ltx-2-3-pro", "prompt": "x", "resolution": "8k"}, "resolution", "1080p"),
        ({"model": "ltx-2-3-pro", "prompt": "x", "colour": "red"}, "colour", "unknown parameter"),
        ({"model": "ltx-2-3-pro", "prompt": "x", "task": "retake"}, "task", "image_to_video"),
        ({"model": "ltx-2-3-pro", "prompt": "x", "num_generations": 5}, "num_generations", "between 1 and 4"),
        ({"model": "ltx-2-3-pro", "prompt": "x", "num_generations": 0}, "num_generations", "between 1 and 4"),
        ({"model": "ltx-2-3-fast", "prompt": "x", "duration": 12, "resolution": "2k"}, "duration", "1080p"),
        (
            {"model": "ltx-2-3-pro", "prompt": "x", "input_image": "http://10.0.0.1/a.png"},
            "input_image",
            "private",
        ),
        (
            {"model": "ltx-2-3-pro", "prompt": "x", "input_image": "http://169.254.169.254/latest"},
            "input_image",
            "private",
        ),
        (
            {"model": "ltx-2-3-pro", "prompt": "x", "input_image": "file:///etc/passwd"},
            "input_image",
            "file URLs",
        ),
        ({"model": "ltx-2-3-pro", "prompt": "x", "input_image": "/etc/passwd"}, "input_image", "https URL"),
        (
            {"model": "ltx-2-3-pro", "prompt": "x", "input_image": "data:image/png;base64,@@"},
            "input_image",
            "malformed",
        ),
        ({"model": "ltx-2-3-pro", "prompt": "x", "input_image": "upload://0000"}, "input_image", "no upload"),
        ({"model": "ltx-2-3-pro", "prompt": "x", "resolution": ["4k"]}, "resolution", "1080p"),
        (
            {"model": "ltx-2-3-pro", "prompt": "x", "input_image": "http://a.com:99999/x"},
            "input_image",
            "not a valid",
        ),
        (
            {"model": "ltx-2-3-pro", "prompt": "x", "input_image": {"url": "https://a/b.png"}},
            "input_image",
            "string",
        ),
        ({"model": RETAKE, "input_video": "https://example.com/v.mp4"}, "prompt", "required"),
        (
            {
                "model": RETAKE,
                "prompt": "x",
                "input_video": "https://example.com/v.mp4",
                "retake_duration": 1.5,
            },
            "retake_duration",
            "greater than or equal to 2",
        ),
        (
            {"model": "ltx-2-3-pro-extend-video", "input_video": "https://example.com/v.mp4", "duration": 21},
            "duration",
            "less than or equal to 20",
        ),
        (
            {"model": "ltx-2-3-pro-extend-video", "input_video": "https://example.com/v.mp4", "context": 0.5},
            "context",
            "greater than or equal to 1",
        ),
    ],
)
def test_submissions_are_validated_before_anything_is_queued(
    service: Running, body: dict[str, Any], field: str, says: str
) -> None:
    before = service.alice.get(
        "/api/ai/queue", params={"status": "queued,processing,succeeded,failed,cancelled"}
    )
    for path in ("/api/ai/queue", "/api/ai/videos/generate"):
        error = error_of(service.alice.post(path, json=body), 400)
        assert error["type"] == "invalid_params" and error["field"] == field, error
        assert says in error["detail"], error
    after = service.alice.get(
        "/api/ai/queue", params={"status": "queued,processing,succeeded,failed,cancelled"}
    )
    assert after.json()["count"] == before.json()["count"], "nothing was queued"


def test_every_problem_in_a_body_is_listed(service: Running) -> None:
    response = service.alice.post("/api/ai/queue", json={"model": RETAKE, "retake_mode": "all", "extra": 1})
    error = error_of(response, 400)
    assert [problem["field"] for problem in error["errors"]] == [
        "input_video",
        "prompt",
        "retake_mode",
        "extra",
    ]


def test_bodies_that_are_not_json_objects_or_too_large_are_refused(service: Running) -> None:
    assert error_of(service.alice.post("/api/ai/queue", content=b"{nope"), 400)["type"] == "invalid_json"
    assert error_of(service.alice.post("/api/ai/queue", json=[1, 2]), 400)["type"] == "invalid_json"
    with socket.create_connection(("127.0.0.1", service.serve.port)) as connection:
        key = service.alice.http.headers["authorization"]
        connection.sendall(
            b"POST /api/ai/queue HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: " + key.encode() + b"\r\nContent-Length: 999999999\r\n\r\n"
        )
        reply = b""
        while b'"}' not in reply and (chunk := connection.recv(65536)):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 413") and b'"type":"request_too_large"' in reply


def test_the_queue_lifecycle(service: Running, short_clip: Path, tmp_path: Path) -> None:
    alice = service.alice
    video = upload(alice, short_clip)
    first, second, third = alice.enqueue(
        retake_body(video, num_generations=3, retake_start_time=1, retake_mode="replace_video")
    )
    cancelled = alice.delete(f"/api/ai/queue/{third}")
    assert cancelled.status_code == 200 and cancelled.json() == {"status": "success", "generation_id": third}
    item = alice.generation(third)
    assert item["status"] == "cancelled" and item["completed_at"] is not None
    queued = alice.generation(second)
    assert queued["status"] in ("queued", "processing", "succeeded")
    assert queued["model_name"] == RETAKE and queued["media_type"] == "video" and queued["prompt"] == "rain"
    assert (queued["retake_start_time"], queued["retake_duration"], queued["retake_mode"]) == (
        1,
        2,
        "replace_video",
    )
    assert queued["input_video"] == video and isinstance(queued["enqueued_at"], int)
    active = alice.get("/api/ai/queue").json()
    assert {g["generation_id"] for g in active["generations"]} <= {first, second}
    assert active["count"] == len(active["generations"])
    done = [alice.wait(first), alice.wait(second)]
    assert [item["status"] for item in done] == ["succeeded", "succeeded"], done
    for item in done:
        assert item["error_message"] is None and item["started_at"] <= item["completed_at"]
        assert item["cost"] == pytest.approx(0.1 * 73 / 24, abs=1e-4), "$0.10 per second of input"
        assert item["attempts"] == 1 and item["demo"] is True
        assert item["output"]["frames"] == 73 and item["output"]["width"] == 128
        info = download(item["result_url"], tmp_path / f"{item['generation_id']}.mp4")
        assert info.video is not None and info.video.frame_count == 73 and info.audio is not None
    listed = alice.get("/api/ai/queue", params={"status": "succeeded,cancelled", "model": RETAKE}).json()
    assert {first, second, third} <= {g["generation_id"] for g in listed["generations"]}
    assert (
        alice.get("/api/ai/queue", params={"model": "ltx-2-3-fast", "status": "succeeded"}).json()["count"]
        == 0
    )
    assert (
        alice.get("/api/ai/queue", params={"media_type": "image", "status": "succeeded"}).json()["count"] == 0
    )
    assert error_of(alice.get("/api/ai/queue", params={"status": "done"}), 400)["field"] == "status"
    again = alice.delete(f"/api/ai/queue/{first}")
    assert again.status_code == 200 and alice.generation(first)["status"] == "succeeded", "an ended job stays"
    assert error_of(alice.delete("/api/ai/queue/00000000-0000-0000-0000-000000000000"), 404)["title"] == (
        "The requested resource could not be found"
    )


def test_a_running_generation_can_be_cancelled(service: Running, short_clip: Path) -> None:
    alice = service.alice
    (job,) = alice.enqueue(retake_body(upload(alice, short_clip)))
    alice.wait_for(job, "denoising")
    assert alice.delete(f"/api/ai/queue/{job}").status_code == 200
    item = alice.wait(job, timeout=60)
    assert item["status"] == "cancelled" and item["result_url"] is None


def test_a_key_sees_only_its_own_generations_events_and_uploads(service: Running, short_clip: Path) -> None:
    alice, bob = service.alice, service.bob
    video = upload(alice, short_clip)
    (job,) = alice.enqueue(retake_body(video))
    assert error_of(bob.get(f"/api/ai/queue/{job}"), 404)["type"] == "resource_not_found"
    assert error_of(bob.delete(f"/api/ai/queue/{job}"), 404)["type"] == "resource_not_found"
    statuses = "queued,processing,succeeded,failed,cancelled"
    assert job not in {
        g["generation_id"]
        for g in bob.get("/api/ai/queue", params={"status": statuses}).json()["generations"]
    }
    error = error_of(bob.post("/api/ai/queue", json=retake_body(video)), 400)
    assert error["field"] == "input_video" and "no upload" in error["detail"]
    finished = threading.Event()

    def wait_for_alice() -> None:
        alice.wait(job)
        finished.set()

    threading.Thread(target=wait_for_alice, daemon=True).start()
    seen: list[str] = []
    with events(bob) as stream:
        for _, _, data in stream:
            seen.append(data)
            if finished.is_set() and "keep-alive" in data:
                break  # a keep-alive after alice's job ended: nothing of hers came before it
    assert all(job not in data for data in seen) and any("keep-alive" in data for data in seen)
    assert alice.generation(job)["status"] == "succeeded", "bob's DELETE changed nothing"


def test_sync_generation_answers_with_the_video(service: Running, clip: Path, tmp_path: Path) -> None:
    alice = service.alice
    body = {"model": "ltx-2-3-pro-extend-video", "input_video": upload(alice, clip), "duration": 2}
    response = alice.post("/api/ai/videos/generate", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["model"] == "ltx-2-3-pro-extend-video" and isinstance(result["created"], int)
    info = download(result["videos"][0]["url"], tmp_path / "extended.mp4")
    assert info.video is not None and info.video.frame_count == 96 + 48
    assert result["cost"] == pytest.approx(0.2)
    as_base64 = alice.post("/api/ai/videos/generate", json={**body, "response_format": "b64_json"}).json()
    decoded = base64.b64decode(as_base64["videos"][0]["b64_json"])
    (tmp_path / "b64.mp4").write_bytes(decoded)
    assert media.probe(tmp_path / "b64.mp4").video.frame_count == 96 + 48  # type: ignore[union-attr]


def test_sync_generation_reports_a_failure_with_its_field(service: Running, tmp_path: Path) -> None:
    from fractions import Fraction

    from ltxserve.media.testsrc import synthetic_clip

    short = tmp_path / "short.mp4"
    media.encode_clip(short, synthetic_clip(320, 180, 48, Fraction(24)))
    body = {"model": "ltx-2-3-pro-extend-video", "input_video": upload(service.alice, short)}
    error = error_of(service.alice.post("/api/ai/videos/generate", json=body), 400)
    assert error["field"] == "input_video" and "at least 73" in error["detail"]


def test_events_stream_progress_and_completion_and_resume_from_last_event_id(
    service: Running, short_clip: Path
) -> None:
    alice = service.alice
    received: list[tuple[str, str, dict[str, Any]]] = []
    video = upload(alice, short_clip)
    with events(alice) as stream:
        until_subscribed(stream)
        (job,) = alice.enqueue(retake_body(video))
        for event_id, name, data in stream:
            if not event_id:
                continue
            payload = json.loads(data)
            if payload["generation_id"] == job:
                received.append((event_id, name, payload))
            if name == "media_generation_completed" and payload["generation_id"] == job:
                break
    names = [name for _, name, _ in received]
    assert names[0] == "media_generation_status" and received[0][2]["status"] == "queued"
    assert "media_generation_progress" in names and names[-1] == "media_generation_completed"
    done = received[-1][2]
    assert done == {
        "generation_id": job,
        "media_type": "video",
        "model": RETAKE,
        "status": "succeeded",
        "url": done["url"],
    }
    assert httpx.get(done["url"]).status_code == 200
    progress = [payload for _, name, payload in received if name == "media_generation_progress"]
    assert {"stage", "step", "total"} <= set(progress[0]) and any(p["stage"] == "denoising" for p in progress)
    ids = [int(event_id) for event_id, _, _ in received]
    assert ids == sorted(ids)
    resumed: list[str] = []
    with events(alice, last_event_id=received[4][0]) as stream:
        for event_id, _, data in stream:
            if event_id and json.loads(data)["generation_id"] == job:
                resumed.append(event_id)
            if event_id == received[-1][0]:
                break
    assert resumed == [event_id for event_id, _, _ in received[5:]], "the missed events, once each, in order"
    assert error_of(alice.get("/api/events", headers={"Last-Event-ID": "x"}), 400)["field"] == "Last-Event-ID"


def test_uploads_by_multipart_and_files_in_a_multipart_submission(service: Running, short_clip: Path) -> None:
    alice = service.alice
    with short_clip.open("rb") as file:
        uploaded = alice.post("/api/uploads", files={"file": ("clip.mp4", file, "video/mp4")})
    assert uploaded.status_code == 200 and uploaded.json()["size"] == short_clip.stat().st_size
    with short_clip.open("rb") as file:
        response = alice.post(
            "/api/ai/queue",
            data={"model": RETAKE, "prompt": "rain", "retake_start_time": "1", "num_generations": "1"},
            files={"input_video": ("clip.mp4", file, "video/mp4")},
        )
    assert response.status_code == 200, response.text
    (generation,) = response.json()["generations"]
    item = alice.wait(generation["generation_id"])
    assert item["status"] == "succeeded" and item["input_video"].startswith("upload://")
    assert item["retake_start_time"] == 1
    empty = alice.post("/api/uploads", content=b"")
    assert empty.status_code == 400 and empty.json()["error"]["field"] == "file", "ltxserve's own envelope"


def test_data_uris_are_accepted_and_kept_out_of_the_job(service: Running, short_clip: Path) -> None:
    alice = service.alice
    data = "data:video/mp4;base64," + base64.b64encode(short_clip.read_bytes()).decode()
    (job,) = alice.enqueue(retake_body(data))
    item = alice.wait(job)
    assert item["status"] == "succeeded" and item["input_video"].startswith("upload://")


def test_result_links_are_signed_expiring_and_seekable(service: Running, short_clip: Path) -> None:
    (job,) = service.alice.enqueue(retake_body(upload(service.alice, short_clip)))
    url = service.alice.wait(job)["result_url"]
    whole = httpx.get(url)
    assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
    part = httpx.get(url, headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == whole.content[:100], "players can seek"
    if service.backend.storage.startswith("s3://"):
        assert "X-Amz-Signature=" in url and "X-Amz-Expires=86400" in url, "presigned by the bucket, 24 h"
    else:
        assert url.startswith(f"{service.serve.url}/files/results/{job}/") and "expires=" in url
        assert whole.headers["content-disposition"] == f'inline; filename="{job}.mp4"'
        assert httpx.get(url.replace("signature=", "signature=0")).status_code == 404
        assert httpx.get(url.split("?")[0]).status_code == 422


def test_a_key_can_have_only_so_many_unfinished_generations(service: Running, short_clip: Path) -> None:
    dave = Client(service.serve.url, create_key("dave", service.backend, service.data_dir))
    body = retake_body(upload(dave, short_clip), num_generations=4)
    ids = dave.enqueue(body) + dave.enqueue(body) + dave.enqueue(body)
    error = error_of(dave.post("/api/ai/queue", json=body), 429)
    assert error["type"] == "quota_exceeded" and "limit is 12" in error["title"]
    for job in ids:
        dave.delete(f"/api/ai/queue/{job}")
    for job in ids:
        assert dave.wait(job, timeout=120)["status"] in ("cancelled", "succeeded")


def test_extend_and_retake_an_ordinary_clip_through_the_queue(
    service: Running, clip: Path, tmp_path: Path
) -> None:
    """320×180, 96 frames with stereo sound, default pipelines and steps: the source's frames stay
    where they were, the result keeps its size, and sound runs as long as the picture."""
    alice = service.alice
    video = upload(alice, clip)
    extend = {"model": "ltx-2-3-pro-extend-video", "prompt": "waves", "input_video": video, "duration": 2}
    retake = retake_body(video, retake_start_time=1, retake_duration=2, retake_mode="replace_audio_and_video")
    (extended,), (retaken,) = alice.enqueue(extend), alice.enqueue(retake)
    results, items = {}, {}
    for name, job in (("extend", extended), ("retake", retaken)):
        items[name] = alice.wait(job)
        assert items[name]["status"] == "succeeded", items[name]
        download(items[name]["result_url"], tmp_path / f"{name}.mp4")
        results[name] = play(tmp_path / f"{name}.mp4")
    assert results["extend"].codes[:96] == list(range(96)) and len(results["extend"].codes) == 96 + 48
    start, stop = items["retake"]["output"]["notes"]["video_window_frames"]
    assert (start, stop) == (17, 73), "1 s to 3 s, snapped outward to whole latent frames"
    codes = results["retake"].codes
    assert len(codes) == 96 and codes[:start] + codes[stop:] == [*range(start), *range(stop, 96)]
    for name, played in results.items():
        info = media.probe(tmp_path / f"{name}.mp4")
        assert info.video is not None and (info.video.width, info.video.height) == (320, 180)
        assert info.audio is not None and abs(played.audio_end - played.video_end) < Fraction(1, 24), name
