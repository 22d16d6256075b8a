"""What an operator configures, shared by `ltxserve serve`, `ltxserve worker` and the API."""

import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from ltxserve.engine.options import EngineOptions
from ltxserve.inputs import FetchPolicy
from ltxserve.media.limits import MediaLimits

METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
"""Where the processes under `serve` write their metrics for the API to add up (prometheus-client's
multiprocess mode reads this variable)."""
DEMO_NOTICE = "demo weights (tiny random model): the whole path is real, the picture and sound are noise"


def default_data_dir() -> Path:
    """$LTXSERVE_DATA_DIR, else the XDG data directory's ltxserve/."""
    if "LTXSERVE_DATA_DIR" in os.environ:
        return Path(os.environ["LTXSERVE_DATA_DIR"])
    base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / "ltxserve"


@dataclass(frozen=True)
class WorkerSettings:
    lease_seconds: float = 60.0
    poll_seconds: float = 1.0
    """How often an idle worker looks for work (PostgreSQL wakes it at once on new work)."""
    scratch: Path | None = None
    """Where jobs' inputs and outputs are kept while they run (default: the system temp dir)."""
    max_running_per_key: int | None = None
    """Jobs of one key running at once, unless the key has its own limit (None: as many as there are
    workers; the queue's order spreads them across keys anyway)."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=default_data_dir)
    weights: Path | None = None
    """The official LTX-2.3 files; None: the tiny demo set, written into the data directory."""
    database: str | None = None
    """sqlite:///path or postgresql://...; None: SQLite in the data directory."""
    storage: str | None = None
    """A directory or s3://bucket/prefix; None: the data directory's files/."""
    auth: bool = True
    public_url: str | None = None
    """How clients reach this server (for result URLs); None: the URL each request came to."""
    url_lifetime: timedelta = timedelta(hours=24)
    file_lifetime: timedelta = timedelta(hours=24)
    """How long results are kept after their job ends, and uploads after they are made (one a queued or
    running job will read is kept until that job ends), as the LTX API keeps them."""
    job_lifetime: timedelta = timedelta(days=30)
    """How long a job's row (its parameters, events and webhook) is kept after it ends."""
    sweep_seconds: float = 300.0
    """How often the API deletes what has outlived its lifetime."""
    fetch: FetchPolicy = FetchPolicy()
    media: MediaLimits = MediaLimits()
    max_unfinished_per_key: int = 100
    requests_per_minute_per_key: int = 1200
    """Requests one key may make in a minute (polling included; a key's own limit overrides it)."""
    max_json_bytes: int = 64 << 20
    """Request bodies with data URIs in them can be large, but not unbounded."""
    max_upload_bytes: int = 1 << 30
    storage_quota_per_key: int = 10 << 30
    """Bytes of uploads one key may keep (a key's own quota overrides it)."""
    seconds_per_day_per_key: int | None = None
    """Seconds of video one key's jobs may make in a day, UTC (a key's own allowance overrides it);
    None: no limit."""
    provider_input_rules: bool = True
    """Each provider's own rules on input media (the LTX API's: HTTPS only, host names, no redirects,
    15 / 32 MB by URL, 7 / 15 MB data URIs, 100 MB uploads); False: the server's own policy alone."""
    sync_timeout: float = 3600.0
    """How long POST /api/ai/videos/generate waits for its result."""
    sse_ping_seconds: float = 15.0
    fal_queue_path: str = "/fal/queue"
    """Where fal's queue API is served (a fal client: FAL_QUEUE_RUN_HOST=HOST:PORT/fal/queue)."""
    fal_run_path: str = "/fal/run"
    """Where fal's synchronous API is served (FAL_RUN_HOST=HOST:PORT/fal/run)."""
    worker: WorkerSettings = WorkerSettings()
    engine: EngineOptions = EngineOptions()
    """How each worker runs its models (device, compute dtype, FP8, offload)."""

    @property
    def database_url(self) -> str:
        return self.database or f"sqlite:///{self.data_dir / 'ltxserve.db'}"

    @property
    def storage_url(self) -> str:
        return self.storage or str(self.data_dir / "files")

    @property
    def lora_cache(self) -> Path:
        """LoRAs workers fetched by URL, kept by content."""
        return self.data_dir / "cache" / "loras"

    @property
    def demo_weights(self) -> Path:
        return self.data_dir / "weights" / "tiny"

    @property
    def weights_dir(self) -> Path:
        return self.weights or self.demo_weights
