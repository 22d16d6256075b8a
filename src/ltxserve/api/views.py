"""Jobs as every surface sees them: typed, dialect-neutral views of the job rows. A dialect renders
these in its provider's shape; it never reads a row."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from ltxserve.database import JobState
from ltxserve.jobs.store import Job


@dataclass(frozen=True)
class ResultView:
    """What a succeeded job made."""

    url: str | None
    """Where it can be downloaded (a signed, expiring link); None once the file is discarded."""
    key: str | None
    """Its storage key; None once the file is discarded."""
    content_type: str
    bytes: int
    width: int | None
    height: int | None
    fps: Fraction | None
    frames: int | None
    duration: float | None
    has_audio: bool
    sample_rate: int | None
    channels: int | None
    seed: int | None
    demo: bool
    notes: Mapping[str, Any]
    """What was decided on the way (sizes, context, snapped windows)."""
    expired_at: float | None = None
    """When the retention sweep deleted the file (None: it was kept, or discarded once answered)."""

    @property
    def gone(self) -> str:
        """Why there is no file, in words."""
        if self.expired_at is not None:
            when = datetime.fromtimestamp(self.expired_at, UTC).isoformat(timespec="seconds")
            return f"the result's file expired at {when} and was deleted"
        return "the result's file was answered once and not kept"

    @classmethod
    def of(cls, result: Mapping[str, Any], url: str | None) -> "ResultView":
        fps = result.get("fps")
        return cls(
            url=url,
            key=result.get("key"),
            content_type=result["content_type"],
            bytes=result["size"],
            width=result.get("width"),
            height=result.get("height"),
            fps=Fraction(fps) if fps is not None else None,
            frames=result.get("frames"),
            duration=result.get("duration"),
            has_audio=result.get("has_audio", False),
            sample_rate=result.get("sample_rate"),
            channels=result.get("channels"),
            seed=result.get("seed"),
            demo=result.get("demo", False),
            notes=result.get("notes", {}),
            expired_at=result.get("expired_at"),
        )

    def described(self) -> dict[str, Any]:
        """The description a surface may echo as it is (no storage key)."""
        return {"content_type": self.content_type, "size": self.bytes, "width": self.width,
                "height": self.height, "fps": None if self.fps is None else str(self.fps),
                "frames": self.frames, "duration": self.duration, "has_audio": self.has_audio,
                "sample_rate": self.sample_rate, "channels": self.channels, "seed": self.seed,
                "notes": dict(self.notes)}  # fmt: skip


@dataclass(frozen=True)
class ErrorView:
    """Why a job failed. `field` is the GenerationRequest field at fault: each surface names it."""

    code: str
    """invalid_input (the request could not be made), internal, worker_lost."""
    message: str
    field: str | None

    @classmethod
    def of(cls, error: Mapping[str, Any]) -> "ErrorView":
        return cls(error.get("code", "internal"), error.get("message", "failed"), error.get("field"))


@dataclass(frozen=True)
class JobView:
    id: str
    owner: str
    surface: str
    """The dialect that created the job."""
    product: str
    """The product it asked for, as that surface names it."""
    state: JobState
    progress: int
    """Percent done: 0 while queued, 100 once succeeded."""
    stage: str | None
    step: int
    total: int
    queue_position: int | None
    """Queued jobs ahead of this one (only when asked for, and queued)."""
    params: Mapping[str, Any]
    """The parameters as the product validated them (catalog names)."""
    cost: float | None
    """Known at submit time; None when it depends on the result (the surface computes it)."""
    attempts: int
    result: ResultView | None
    error: ErrorView | None
    created_at: float
    started_at: float | None
    finished_at: float | None

    @classmethod
    def of(cls, job: Job, url: str | None, queue_position: int | None) -> "JobView":
        result = ResultView.of(job.result, url) if job.result else None
        progress = 100 if job.state is JobState.SUCCEEDED else job.progress
        return cls(
            id=job.id,
            owner=job.owner,
            surface=job.surface,
            product=job.model,
            state=job.state,
            progress=progress,
            stage=job.stage,
            step=job.step,
            total=job.total,
            queue_position=queue_position,
            params=job.params,
            cost=job.cost,
            attempts=job.attempts,
            result=result,
            error=ErrorView.of(job.error) if job.state is JobState.FAILED and job.error else None,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
        )


@dataclass(frozen=True)
class Page:
    """Some of an owner's jobs, newest first, and whether older ones follow (ask again with
    `before` = the last one's id)."""

    views: list[JobView]
    has_more: bool
