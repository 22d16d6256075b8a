"""A worker: one process per GPU, claiming jobs from the store and running each along the flow:
resolve inputs → render (probe, plan, engine, assemble) → storage → finish, with a progress event
per step.

While a job runs, a heartbeat thread renews its lease; a progress report or a heartbeat that finds
the job cancelled (or no longer this worker's) sets the cancel token, which stops the engine at its
next step. `stop()` (SIGTERM) stops the running job the same way and puts it back in the queue
without counting the attempt; a job already past the engine finishes first.
"""

import contextlib
import logging
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ltxserve import logs, metrics
from ltxserve.database import JobState
from ltxserve.engine.planning import new_seconds
from ltxserve.engine.progress import (
    DENOISING_STAGES,
    STORING,
    CancelledError,
    CancelToken,
    Progress,
    ProgressCallback,
    StageClock,
)
from ltxserve.inputs import InputResolver
from ltxserve.jobs.store import NEW_WORK_CHANNEL, Job, JobStore, new_worker_id, worker_is_gone
from ltxserve.media import MediaInfo, MediaLimits
from ltxserve.request import GenerationRequest, InvalidRequestError, request_from_json
from ltxserve.settings import WorkerSettings
from ltxserve.storage import Storage

if TYPE_CHECKING:
    from ltxserve.engine.engine import Engine
    from ltxserve.engine.options import EngineOptions

log = logging.getLogger("ltxserve.worker")


class RenderedOutput(Protocol):
    @property
    def info(self) -> MediaInfo: ...
    @property
    def seed(self) -> int: ...
    @property
    def demo(self) -> bool: ...
    @property
    def notes(self) -> dict[str, object]: ...


class Renderer(Protocol):
    """Makes the output file of a request whose inputs are local files."""

    def render(
        self, request: GenerationRequest, output: Path, progress: ProgressCallback, cancel: CancelToken
    ) -> RenderedOutput: ...


class EngineRenderer:
    """The real thing: models loaded once, kept for every job this worker runs."""

    def __init__(self, engine: "Engine", limits: MediaLimits | None = None) -> None:
        self.engine = engine
        self.limits = limits or MediaLimits()

    @classmethod
    def load(cls, weights: Path, options: "EngineOptions", limits: MediaLimits) -> "EngineRenderer":
        from ltxserve.engine.engine import Engine
        from ltxserve.engine.weights import discover

        return cls(Engine(discover(weights), options), limits)

    def render(
        self, request: GenerationRequest, output: Path, progress: ProgressCallback, cancel: CancelToken
    ) -> RenderedOutput:
        from ltxserve.render import render

        return render(self.engine, request, output, progress=progress, cancel=cancel, limits=self.limits)


class Worker:
    def __init__(
        self,
        store: JobStore,
        storage: Storage,
        inputs: InputResolver,
        renderer: Renderer,
        settings: WorkerSettings = WorkerSettings(),
        worker_id: str | None = None,
    ) -> None:
        self.store = store
        self.storage = storage
        self.inputs = inputs
        self.renderer = renderer
        self.settings = settings
        self.id = worker_id or new_worker_id()
        self._stopping = threading.Event()
        self._current: CancelToken | None = None
        self._last_reap = 0.0

    def stop(self) -> None:
        """Stop claiming; the running job (if any) goes back to the queue at its next step."""
        self._stopping.set()
        token = self._current
        if token is not None:
            token.cancel()

    def run(self, max_jobs: int | None = None) -> int:
        """Work until stopped (or `max_jobs` are done); the number of jobs run."""
        done = 0
        try:
            with _Wakeup(self.store, self.settings.poll_seconds) as wakeup:
                while not self._stopping.is_set() and (max_jobs is None or done < max_jobs):
                    self._reap()
                    settings = self.settings
                    job = self.store.claim(self.id, settings.lease_seconds, settings.max_running_per_key)
                    if job is None:
                        wakeup.wait(self._stopping)
                        continue
                    self.execute(job)
                    done += 1
        finally:
            with contextlib.suppress(Exception):  # a database that failed the loop may fail here too
                self.store.worker_stopped(self.id)
        return done

    def _reap(self) -> None:
        """Every quarter lease: say this worker is up, and requeue the jobs of workers that are not."""
        now = time.monotonic()
        if now - self._last_reap < self.settings.lease_seconds / 4:
            return
        self._last_reap = now
        self.store.worker_seen(self.id)
        requeue_lost(self.store, worker_is_gone)

    def execute(self, job: Job) -> None:
        """Run the job to its end (or hand it back); what is logged meanwhile carries its id."""
        written_under = logs.job_id.set(job.id)
        try:
            self._execute(job)
        finally:
            logs.job_id.reset(written_under)

    def _execute(self, job: Job) -> None:
        log.info("job %s (%s): attempt %d", job.id, job.model, job.attempts)
        taken = time.time()
        waited = (job.started_at or taken) - job.created_at
        metrics.queue_wait_seconds.labels(job.model).observe(max(0.0, waited))
        if job.attempts > 1:
            metrics.retries.labels(job.model).inc()
        outcome = "failed"
        token = CancelToken()
        self._current = token
        if self._stopping.is_set():
            token.cancel()
        workdir = Path(tempfile.mkdtemp(prefix=f"ltxserve-{job.id[:8]}-", dir=self.settings.scratch))
        heartbeat = _Heartbeat(self.store, job.id, self.id, self.settings.lease_seconds, token)
        try:
            with heartbeat:
                self._run(job, workdir, token)
            outcome = "succeeded"
        except CancelledError:
            outcome = "cancelled"
            if self._stopping.is_set() and self.store.release(job.id, self.id):
                outcome = "handed_back"
                log.info("job %s: queued again (worker stopping)", job.id)
            else:
                self.store.finish(job.id, self.id, JobState.CANCELLED)
                log.info("job %s: cancelled", job.id)
        except InvalidRequestError as error:
            self._fail(job, error.message, error.field, "invalid_input")
        except Exception as error:
            log.exception("job %s failed", job.id)
            self._fail(job, f"internal error: {type(error).__name__}: {error}", None, "internal")
        finally:
            self._current = None
            shutil.rmtree(workdir, ignore_errors=True)
            metrics.run_seconds.labels(job.model, outcome).observe(time.time() - taken)
            _record_gpu_memory()

    def _fail(self, job: Job, message: str, field: str | None, code: str) -> None:
        """Failed, with the GenerationRequest field at fault (each surface names it its own way)."""
        self.store.finish(
            job.id, self.id, JobState.FAILED, error={"message": message, "field": field, "code": code}
        )
        log.info("job %s: failed: %s%s", job.id, f"{field}: " if field else "", message)

    def _run(self, job: Job, workdir: Path, token: CancelToken) -> None:
        request = request_from_json(job.request)

        timing = _StageTiming(job.model)

        def progress(step: Progress) -> None:
            timing.reached(step)
            stop = self.store.progress(job.id, self.id, step, self.settings.lease_seconds)
            if stop:
                token.cancel()

        progress(Progress("fetching inputs", 0, 1))
        request = self.inputs.resolve(request, job.owner, workdir)
        extension = request.output.format.value
        output = workdir / f"output.{extension}"
        rendered = self.renderer.render(request, output, progress, token)
        progress(Progress("storing result", 0, 1, STORING))
        # per attempt: a worker that lost its lease and still finishes must not overwrite the file
        # of the attempt that replaced it
        key = f"results/{job.id}/{job.attempts}/video.{extension}"
        size = self.storage.put_file(key, output)
        result = {"key": key, "content_type": request.output.format.content_type, "size": size,
                  **_describe(rendered)}  # fmt: skip
        timing.reached(None)
        made = None if job.seconds is not None else new_seconds(request, rendered.info.video)
        seconds = None if made is None else float(made)
        if self.store.finish(job.id, self.id, JobState.SUCCEEDED, result=result, seconds=seconds):
            log.info("job %s: succeeded (%d bytes)", job.id, size)
        else:  # the attempt that replaced this one writes its own: one result per job, not two
            self.storage.delete(key)
            log.warning("job %s: finished, but it was no longer this worker's; result deleted", job.id)


class _StageTiming:
    """Each stage's seconds (observed when the job is done) and each denoising step, as the job's
    progress reports arrive."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.clock = StageClock()
        self.steps: dict[str, int] = {}

    def reached(self, progress: Progress | None) -> None:
        """`progress` was reported; None: the job is done."""
        if progress is None:
            for stage, seconds in self.clock.stop().items():
                metrics.stage_seconds.labels(self.model, stage).observe(seconds)
            return
        self.clock(progress)
        if progress.stage in DENOISING_STAGES and progress.step > self.steps.get(progress.stage, 0):
            metrics.denoise_steps.labels(self.model).inc(progress.step - self.steps.get(progress.stage, 0))
            self.steps[progress.stage] = progress.step


def _record_gpu_memory() -> None:
    """What the worker's CUDA devices hold, if it uses any (torch is not imported for this)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return
    for index in range(torch.cuda.device_count()):
        metrics.gpu_memory_bytes.labels(f"cuda:{index}").set(torch.cuda.memory_allocated(index))


def requeue_lost(store: JobStore, lost: Callable[[str], bool]) -> None:
    """Queue again (or fail, when out of attempts) the running jobs of the workers `lost` says are
    gone, and those whose lease ran out."""
    requeued, failed = store.reap([worker for worker in store.running_workers() if lost(worker)])
    metrics.lease_expiries.inc(len(requeued) + len(failed))
    for job_id in requeued:
        log.warning("job %s: its worker was lost; queued again", job_id)
    for job_id in failed:
        log.error("job %s: its worker was lost too often; failed", job_id)


def _describe(rendered: RenderedOutput) -> dict[str, Any]:
    video, audio = rendered.info.video, rendered.info.audio
    described: dict[str, Any] = {"seed": rendered.seed, "demo": rendered.demo, "notes": rendered.notes}
    if video is not None:
        described |= {"width": video.display_width, "height": video.display_height,
                      "fps": str(video.fps), "frames": video.frame_count,
                      "duration": float(video.duration)}  # fmt: skip
    described["has_audio"] = audio is not None
    if audio is not None:
        described |= {"sample_rate": audio.sample_rate, "channels": audio.channels}
    return described


class _Heartbeat:
    """Renews the lease while a job runs; cancels the job's token when the store says stop."""

    def __init__(self, store: JobStore, job_id: str, worker_id: str, lease: float, token: CancelToken):
        self._store, self._job_id, self._worker_id, self._lease = store, job_id, worker_id, lease
        self._token = token
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="heartbeat", daemon=True)

    def __enter__(self) -> "_Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._done.wait(self._lease / 3):
            try:
                stop = self._store.heartbeat(self._job_id, self._worker_id, self._lease)
                metrics.heartbeats.inc()
            except Exception:
                log.exception("heartbeat for job %s failed; retrying", self._job_id)
                continue
            if stop:
                self._token.cancel()


class _Wakeup:
    """Waits for new work: a PostgreSQL notification, or the poll interval on SQLite."""

    def __init__(self, store: JobStore, poll_seconds: float) -> None:
        self._store = store
        self._poll = poll_seconds
        self._connection: Any = None

    def __enter__(self) -> "_Wakeup":
        if self._store.postgres:
            self._listen()
        return self

    def _listen(self) -> None:
        import psycopg

        url = self._store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._connection = psycopg.connect(url, autocommit=True)
        self._connection.execute(f"LISTEN {NEW_WORK_CHANNEL}")

    def __exit__(self, *exc: object) -> None:
        if self._connection is not None:
            self._connection.close()

    def wait(self, stopping: threading.Event) -> None:
        if self._connection is None:
            stopping.wait(self._poll)
            return
        import psycopg

        try:
            for _ in self._connection.notifies(timeout=self._poll, stop_after=1):
                pass
        except psycopg.OperationalError:
            log.warning("lost the database connection that wakes this worker; reconnecting")
            self._connection.close()
            stopping.wait(self._poll)
            self._listen()
