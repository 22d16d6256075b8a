"""The worker on the real engine (tiny weights), a real SQLite file and a local store: a job runs
through every stage with a progress event per step, cancellation stops the engine within one step,
a stopping worker hands its job back, and bad inputs fail the job naming the field."""

import shutil
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import pytest

from ltxserve import media
from ltxserve.api import oxen
from ltxserve.api.oxen_models import MODELS
from ltxserve.api.views import JobView
from ltxserve.database import JobState, open_database
from ltxserve.engine.engine import Engine
from ltxserve.engine.progress import CancelToken, ProgressCallback
from ltxserve.inputs import Fetcher, InputResolver
from ltxserve.jobs.store import JobStore
from ltxserve.jobs.worker import EngineRenderer, Worker
from ltxserve.media.testsrc import synthetic_clip
from ltxserve.request import GenerationRequest, request_to_json
from ltxserve.settings import WorkerSettings
from ltxserve.storage import Storage, open_storage


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("sources")
    made = {}
    for name, frames in (("long", 96), ("short", 48)):
        path = directory / f"{name}.mp4"
        media.encode_clip(path, synthetic_clip(192, 108, frames, Fraction(24)))
        made[name] = path
    return made


@pytest.fixture
def setup(tmp_path: Path, engine: Engine, sources: dict[str, Path]) -> tuple[JobStore, Storage, Worker]:
    store = JobStore(open_database(f"sqlite:///{tmp_path / 'jobs.db'}"))
    storage = open_storage(str(tmp_path / "files"), b"k" * 32)
    for name, path in sources.items():
        storage.put_file(f"uploads/alice/{name}", path)
    worker = Worker(
        store,
        storage,
        InputResolver(Fetcher(), storage),
        EngineRenderer(engine),
        WorkerSettings(lease_seconds=30, poll_seconds=0.05, scratch=tmp_path),
    )
    return store, storage, worker


def enqueue(store: JobStore, model: str, params: dict[str, object]) -> str:
    spec = MODELS[model].product
    validated = spec.validate(params)
    request = spec.request(validated)
    (job_id,) = store.enqueue(
        "alice", "oxen", model, request_to_json(request), validated.model_dump(mode="json")
    )
    return job_id


def retake(store: JobStore, video: str = "upload://long") -> str:
    return enqueue(
        store, "ltx-2-3-pro-retake", {"video": video, "prompt": "rain", "start_time": 1, "duration": 2}
    )


def test_a_job_runs_to_a_stored_result_with_a_progress_event_per_step(
    setup: tuple[JobStore, Storage, Worker], tmp_path: Path, sources: dict[str, Path]
) -> None:
    store, storage, worker = setup
    job_id = retake(store)
    assert worker.run(max_jobs=1) == 1
    job = store.get(job_id)
    assert job is not None
    assert job.state is JobState.SUCCEEDED, job.error
    assert job.result is not None and job.result["key"] == f"results/{job_id}/1/video.mp4"
    output = storage.download(job.result["key"], tmp_path / "out.mp4")
    info, source = media.probe(output), media.probe(sources["long"])
    assert info.video is not None and source.video is not None
    assert info.video.frame_count == source.video.frame_count == job.result["frames"] == 96
    assert (job.result["width"], job.result["height"], job.result["fps"]) == (192, 108, "24")
    assert job.result["demo"] is True and job.result["has_audio"] is True
    assert job.result["notes"]["video_window_frames"][0] <= 24 and job.result["size"] == output.stat().st_size
    assert job.cost is None, "priced by its source: the surface prices it from the result"
    assert job.seconds == 2, "queued without its seconds, it counts the window it made anew"
    assert oxen._cost(JobView.of(job, "url", None)) == pytest.approx(0.4), "$0.10 per second of 4 s"
    steps = [e.data for e in store.events_after(0, job_id=job_id) if e.type == "progress"]
    stages = [step["stage"] for step in steps]
    assert stages[0] == "fetching inputs" and stages[-1] == "storing result"
    percents = [step["progress"] for step in steps]
    assert percents == sorted(percents) and percents[0] == 0 and percents[-1] == 99
    denoising = [step["step"] for step in steps if step["stage"] == "denoising"]
    assert denoising == list(range(len(denoising))) and len(denoising) >= 30, "one event per step"


def test_cancelling_a_running_job_stops_the_engine_within_one_step(
    setup: tuple[JobStore, Storage, Worker],
) -> None:
    store, _, worker = setup
    job_id = retake(store)
    thread = threading.Thread(target=worker.run, kwargs={"max_jobs": 1})
    thread.start()
    deadline = time.monotonic() + 120
    while not any(
        e.type == "progress" and e.data["stage"] == "denoising" and e.data["step"] >= 2
        for e in store.events_after(0, job_id=job_id)
    ):
        assert time.monotonic() < deadline
        time.sleep(0.005)
    store.cancel(job_id)
    thread.join(60)
    job = store.get(job_id)
    assert job is not None and job.state is JobState.CANCELLED and job.result is None
    events = store.events_after(0, job_id=job_id)
    asked = next(e.seq for e in events if e.type == "cancel_requested")
    after = [e for e in events if e.seq > asked and e.type == "progress"]
    assert len(after) <= 1, f"steps run after the cancel: {[e.data for e in after]}"
    assert events[-1].type == "cancelled"


def test_a_stopping_worker_hands_its_job_back(setup: tuple[JobStore, Storage, Worker]) -> None:
    store, _, worker = setup
    job_id = retake(store)
    thread = threading.Thread(target=worker.run)
    thread.start()
    while not any(
        e.type == "progress" and e.data["stage"] == "denoising" for e in store.events_after(0, job_id=job_id)
    ):
        time.sleep(0.005)
    worker.stop()
    thread.join(60)
    job = store.get(job_id)
    assert job is not None and job.state is JobState.QUEUED and job.attempts == 0 and job.result is None
    assert store.events_after(0, job_id=job_id)[-1].data == {"reason": "worker shut down"}


def test_a_source_the_model_cannot_take_fails_the_job_naming_the_field(
    setup: tuple[JobStore, Storage, Worker],
) -> None:
    store, _, worker = setup
    job_id = enqueue(store, "ltx-2-3-pro-extend-video", {"video": "upload://short", "duration": 2})
    worker.run(max_jobs=1)
    job = store.get(job_id)
    assert job is not None and job.state is JobState.FAILED
    assert job.error == {
        "message": "the video has 48 frames; at least 73 are needed",
        "field": "extend.video",
        "code": "invalid_input",
    }
    extend = MODELS["ltx-2-3-pro-extend-video"].product
    assert extend.param_for("extend.video") == "video", "named by the surface"


def test_inputs_that_cannot_be_fetched_fail_the_job(setup: tuple[JobStore, Storage, Worker]) -> None:
    store, _, worker = setup
    private = retake(store, "http://127.0.0.1:9/clip.mp4")
    someone_elses = retake(store, "upload://not-mine")
    worker.run(max_jobs=2)
    for job_id, why in ((private, "private or reserved"), (someone_elses, "no upload upload://not-mine")):
        job = store.get(job_id)
        assert job is not None and job.state is JobState.FAILED and job.error is not None
        assert job.error["field"] == "retake.video" and why in job.error["message"]


@dataclass(frozen=True)
class Rendered:
    info: media.MediaInfo
    seed: int = 0
    demo: bool = True
    notes: dict[str, object] = field(default_factory=dict)


class LeaseLostWhileRendering:
    """Renders by copying a clip; meanwhile the job is requeued as if this worker's lease had run out
    (a network cut) and another worker claims it."""

    def __init__(self, store: JobStore, clip: Path) -> None:
        self.store = store
        self.clip = clip

    def render(
        self, request: GenerationRequest, output: Path, progress: ProgressCallback, cancel: CancelToken
    ) -> Rendered:
        running = self.store.list_jobs("alice", states=[JobState.RUNNING])
        assert len(running) == 1 and running[0].worker_id is not None
        self.store.reap([running[0].worker_id])
        assert self.store.claim("the-other-worker", 30) is not None
        shutil.copyfile(self.clip, output)
        return Rendered(media.probe(output))


def test_a_worker_that_lost_its_job_while_rendering_keeps_no_result_file(
    tmp_path: Path, sources: dict[str, Path]
) -> None:
    store = JobStore(open_database(f"sqlite:///{tmp_path / 'jobs.db'}"))
    storage = open_storage(str(tmp_path / "files"), b"k" * 32)
    storage.put_file("uploads/alice/long", sources["long"])
    renderer = LeaseLostWhileRendering(store, sources["short"])
    worker = Worker(
        store, storage, InputResolver(Fetcher(), storage), renderer, WorkerSettings(scratch=tmp_path)
    )
    job_id = retake(store)
    assert worker.run(max_jobs=1) == 1
    job = store.get(job_id)
    assert job is not None and job.state is JobState.RUNNING and job.worker_id == "the-other-worker"
    assert job.result is None and job.attempts == 2
    assert storage.listing(f"results/{job_id}/") == [], "the first attempt's file is not left behind"
