"""The service's commands: `serve` (API + embedded workers), `worker` (one per GPU, any machine) and
`keys` (API keys)."""

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from fractions import Fraction
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from ltxserve.engine.options import ComputeDtype, EngineOptions
from ltxserve.engine.planning import Chaining
from ltxserve.logs import LogFormat, configure_logging
from ltxserve.settings import DEMO_NOTICE, METRICS_DIR_VARIABLE, Settings, WorkerSettings, default_data_dir

if TYPE_CHECKING:
    from ltxserve.keys import KeyLimits, KeyStore

keys_app = typer.Typer(no_args_is_help=True, help="Create, list, limit and revoke API keys.")

log = logging.getLogger("ltxserve")

DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Database, files and demo weights (default $LTXSERVE_DATA_DIR or "
                 "~/.local/share/ltxserve)."),
]  # fmt: skip
DatabaseOption = Annotated[
    str | None,
    typer.Option("--database", help="sqlite:///PATH or postgresql://... (default: SQLite in the data dir)."),
]
StorageOption = Annotated[
    str | None,
    typer.Option("--storage", help="A directory or s3://BUCKET/PREFIX[?endpoint=URL&region=R] "
                 "(default: the data dir's files/). S3 credentials from AWS_* variables."),
]  # fmt: skip
WeightsOption = Annotated[
    Path | None,
    typer.Option(
        "--weights", help="Directory with the official LTX-2.3 files. Without it: the tiny demo set."
    ),
]
AllowFetchOption = Annotated[
    list[str] | None,
    typer.Option("--allow-fetch", help="A network (10.0.0.0/8) or host name input URLs may reach although "
                 "it is private; repeatable.", show_default=False),
]  # fmt: skip
ConnectToOption = Annotated[
    list[str] | None,
    typer.Option("--connect-to", help="HOST:PORT:ADDRESS:PORT: fetch inputs for HOST:PORT from ADDRESS:PORT "
                 "instead (as curl --connect-to); repeatable.", show_default=False),
]  # fmt: skip
StorageQuotaOption = Annotated[
    str | None,
    typer.Option("--storage-quota", help="Bytes of uploads the key may keep (500MB, 10GiB, ...), or "
                 "'default': the server's.", show_default=False),
]  # fmt: skip
RpmOption = Annotated[
    str | None,
    typer.Option("--rpm", help="Requests the key may make a minute, or 'default'.", show_default=False),
]
KeyConcurrencyOption = Annotated[
    str | None,
    typer.Option("--concurrency", help="Jobs the key may have running at once, or 'default'.",
                 show_default=False),
]  # fmt: skip
KeyUnfinishedOption = Annotated[
    str | None,
    typer.Option("--max-unfinished", help="Jobs the key may have queued or running, or 'default'.",
                 show_default=False),
]  # fmt: skip
SecondsPerDayOption = Annotated[
    str | None,
    typer.Option(
        "--seconds-per-day",
        help="Seconds of video the key's jobs may make a day (UTC), or 'default'.",
        show_default=False,
    ),
]
LeaseOption = Annotated[
    float, typer.Option("--lease", help="Seconds a worker holds a job without a heartbeat.", min=1)
]
ConcurrencyOption = Annotated[
    int | None,
    typer.Option("--concurrency", min=1, show_default=False,
                 help="Jobs of one key running at once, unless the key has its own (default: no limit)."),
]  # fmt: skip
PollOption = Annotated[
    float,
    typer.Option("--poll", help="Seconds between an idle worker's looks at the queue (SQLite).", min=0.01),
]
DeviceOption = Annotated[
    str | None, typer.Option("--device", help="cuda, cuda:1, cpu (default: CUDA if present).")
]
DtypeOption = Annotated[
    ComputeDtype,
    typer.Option("--dtype", help="What the models compute in (auto: bfloat16 on CUDA, float32 on CPU)."),
]
Fp8Option = Annotated[bool, typer.Option("--fp8", help="Keep the transformer's weights in FP8.")]
OffloadOption = Annotated[bool, typer.Option("--offload", help="Keep models in CPU memory between uses.")]
MaxExtendOption = Annotated[
    float,
    typer.Option(
        "--max-extend",
        help="The longest extend (or retake window) a request may ask for, seconds: one longer than a "
        "model window (about 20 s) is made window by window. Providers' own models keep their limit (20 s).",
        min=1,
    ),
]
LogLevelOption = Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")]
LogFormatOption = Annotated[
    LogFormat,
    typer.Option("--log-format", help="text, or json: one object per line with request_id and job_id."),
]


def _settings(
    data_dir: Path | None,
    weights: Path | None,
    database: str | None,
    storage: str | None,
    allow_fetch: list[str] | None,
    connect_to: list[str] | None,
    lease: float,
    poll: float,
    concurrency: int | None,
    **more: object,
) -> Settings:
    from ltxserve.inputs import FetchPolicy

    policy = replace(FetchPolicy.from_allow_list(allow_fetch or []), connect_to=_connect_to(connect_to or []))
    return Settings(
        data_dir=(data_dir or default_data_dir()).expanduser().resolve(),
        weights=weights.expanduser().resolve() if weights else None,
        database=database,
        storage=storage,
        fetch=policy,
        worker=WorkerSettings(lease_seconds=lease, poll_seconds=poll, max_running_per_key=concurrency),
        **more,  # type: ignore[arg-type]
    )


def _connect_to(entries: list[str]) -> dict[tuple[str, int], tuple[str, int]]:
    mapping = {}
    for entry in entries:
        parts = entry.rsplit(":", 3)
        if len(parts) != 4 or not parts[1].isdigit() or not parts[3].isdigit():
            raise _fail(f"--connect-to {entry!r}: expected HOST:PORT:ADDRESS:PORT")
        mapping[(parts[0], int(parts[1]))] = (parts[2], int(parts[3]))
    return mapping


def _path(value: str, option: str) -> str:
    """A URL path prefix, as routes are mounted: one leading slash, none trailing."""
    path = "/" + value.strip("/")
    if path == "/" or "//" in path or any(c in path for c in "?#"):
        raise _fail(f"{option} {value!r}: expected a path such as /fal/queue")
    return path


def _fail(message: str) -> typer.Exit:
    typer.echo(f"ltxserve: error: {message}", err=True)
    return typer.Exit(code=1)


def _weights_dir(settings: Settings) -> Path:
    """The weights to serve; the tiny demo set is written on first use."""
    if settings.weights is not None:
        return settings.weights
    from ltxserve.engine.weights import DEV_NAME

    if not (settings.demo_weights / DEV_NAME).is_file():
        from ltxserve.engine.tiny import ensure_tiny_weights

        log.info("writing the tiny demo weights to %s", settings.demo_weights)
        ensure_tiny_weights(settings.demo_weights)
    return settings.demo_weights


def serve(
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (0.0.0.0: every interface).")
    ] = "127.0.0.1",
    data_dir: DataDirOption = None,
    weights: WeightsOption = None,
    database: DatabaseOption = None,
    storage: StorageOption = None,
    workers: Annotated[
        int, typer.Option("--workers", help="Embedded worker processes (0: API only).", min=0)
    ] = 1,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Accept requests without an API key (local use).")
    ] = False,
    no_provider_input_rules: Annotated[
        bool,
        typer.Option(
            "--no-provider-input-rules",
            help="Take input media under this server's own limits only, not each provider's stricter "
            "ones (the LTX API's: HTTPS only, host names, no redirects, 15/32 MB by URL).",
        ),
    ] = False,
    public_url: Annotated[
        str | None,
        typer.Option("--public-url", help="Base URL clients reach this server at, for result links."),
    ] = None,
    url_lifetime: Annotated[
        float, typer.Option("--url-lifetime", help="Hours a result link stays valid.", min=0.01)
    ] = Settings.url_lifetime / timedelta(hours=1),
    allow_fetch: AllowFetchOption = None,
    connect_to: ConnectToOption = None,
    lease: LeaseOption = WorkerSettings.lease_seconds,
    poll: PollOption = WorkerSettings.poll_seconds,
    concurrency: ConcurrencyOption = None,
    grace: Annotated[
        float, typer.Option("--grace", help="Seconds a stopping worker gets to hand its job back.")
    ] = 30.0,
    sse_ping: Annotated[
        float, typer.Option("--sse-ping", help="Seconds between event-stream keep-alives.")
    ] = Settings.sse_ping_seconds,
    max_unfinished: Annotated[
        int, typer.Option("--max-unfinished", help="Queued and running jobs one key may have.", min=1)
    ] = Settings.max_unfinished_per_key,
    rpm: Annotated[
        int, typer.Option("--rpm", help="Requests one key may make a minute, unless it has its own.", min=1)
    ] = Settings.requests_per_minute_per_key,
    seconds_per_day: Annotated[
        int | None,
        typer.Option(
            "--seconds-per-day",
            help="Seconds of video one key's jobs may make a day (UTC), unless it has its own allowance "
            "(none unless given).",
            min=1,
        ),
    ] = Settings.seconds_per_day_per_key,
    keep_files: Annotated[
        float,
        typer.Option(
            "--keep-files",
            help="Hours results are kept after their job ends, and uploads after they are made.",
            min=0.01,
        ),
    ] = Settings.file_lifetime / timedelta(hours=1),
    keep_jobs: Annotated[
        float, typer.Option("--keep-jobs", help="Days a job's record is kept after it ends.", min=0.01)
    ] = Settings.job_lifetime / timedelta(days=1),
    storage_quota: Annotated[
        str,
        typer.Option(
            "--storage-quota",
            help="Bytes of uploads one key may keep (500MB, 10GiB, ...), "
            "unless the key has its own (keys create/set --storage-quota).",
        ),
    ] = "10GiB",
    fal_queue_path: Annotated[
        str, typer.Option("--fal-queue-path", help="Where fal's queue API is served.")
    ] = Settings.fal_queue_path,
    fal_run_path: Annotated[
        str, typer.Option("--fal-run-path", help="Where fal's synchronous API is served.")
    ] = Settings.fal_run_path,
    device: DeviceOption = None,
    dtype: DtypeOption = EngineOptions.dtype,
    fp8: Fp8Option = EngineOptions.fp8,
    offload: OffloadOption = EngineOptions.offload,
    max_extend: MaxExtendOption = float(Chaining.longest),
    tls_cert: Annotated[
        Path | None,
        typer.Option("--tls-cert", help="Serve HTTPS with this certificate chain (PEM); with --tls-key."),
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option("--tls-key", help="The private key of --tls-cert (PEM).")
    ] = None,
    log_level: LogLevelOption = "info",
    log_format: LogFormatOption = LogFormat.TEXT,
) -> None:
    """Start the HTTP API with embedded workers: SQLite, local files and the demo weights unless told
    otherwise."""
    import uvicorn

    if (tls_cert is None) != (tls_key is None):
        raise _fail("--tls-cert and --tls-key go together")

    configure_logging(log_level, log_format)
    settings = _settings(
        data_dir, weights, database, storage, allow_fetch, connect_to, lease, poll, concurrency,
        auth=not no_auth, public_url=public_url, url_lifetime=timedelta(hours=url_lifetime),
        sse_ping_seconds=sse_ping, max_unfinished_per_key=max_unfinished, requests_per_minute_per_key=rpm,
        seconds_per_day_per_key=seconds_per_day,
        storage_quota_per_key=_byte_size(storage_quota),
        file_lifetime=timedelta(hours=keep_files), job_lifetime=timedelta(days=keep_jobs),
        provider_input_rules=not no_provider_input_rules,
        fal_queue_path=_path(fal_queue_path, "--fal-queue-path"),
        fal_run_path=_path(fal_run_path, "--fal-run-path"),
        engine=engine_options(device, dtype, fp8, offload, max_extend),
    )  # fmt: skip
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _count_metrics_in_files(settings.data_dir / "metrics")  # before anything that makes a metric

    from ltxserve.api.app import create_app
    from ltxserve.database import open_database
    from ltxserve.engine.weights import WeightsError, discover
    from ltxserve.jobs.store import JobStore, worker_is_gone
    from ltxserve.jobs.worker import requeue_lost
    from ltxserve.keys import KeyStore
    from ltxserve.serve import WorkerSupervisor, python_command

    weight_set = None
    if workers or settings.weights is not None:
        try:
            weight_set = discover(_weights_dir(settings))
        except WeightsError as error:
            raise _fail(str(error)) from None
        if weight_set.demo:
            log.warning(DEMO_NOTICE)
    else:  # the workers are elsewhere, with weights this host does not have
        log.info("no --weights and no embedded workers: the workers check requests against their weights")
    database_engine = open_database(settings.database_url)
    store = JobStore(database_engine)
    requeue_lost(store, worker_is_gone)  # jobs of this host's workers that died with a killed server
    if settings.auth:
        _first_key(KeyStore(database_engine))
    else:
        log.warning("--no-auth: every request is accepted without a key")
    command = python_command("worker", *_worker_args(settings, log_level), "--log-format", log_format.value)
    supervisor = WorkerSupervisor(command, workers, store)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, weight_set), host=host, port=port, log_config=None,
            timeout_graceful_shutdown=5, access_log=False,
            ssl_certfile=tls_cert, ssl_keyfile=tls_key,
        )
    )  # fmt: skip
    # uvicorn re-raises the stopping signal once it has shut down; with these handlers in place it
    # lands here instead of killing the process before the workers have handed their jobs back.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: None)
    supervisor.start()
    try:
        server.run()
    finally:
        log.info("stopping workers")
        supervisor.stop(grace)
        database_engine.dispose()


def _count_metrics_in_files(directory: Path) -> None:
    """prometheus-client's multiprocess mode, for this process and the workers it starts (they inherit
    the variable): each writes its metrics to files in `directory` (emptied: a former run's counts are
    not this one's), and /metrics adds them up. It must be chosen before any metric is made."""
    import shutil

    assert "ltxserve.metrics" not in sys.modules, "metrics were made before their mode was chosen"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ[METRICS_DIR_VARIABLE] = str(directory)


def _first_key(keys: "KeyStore") -> None:
    if keys.any_keys():
        return
    _, secret = keys.create("default")
    typer.echo(
        "\nltxserve: no API keys yet, so one named 'default' was made. It is shown only this once:\n\n"
        f"    {secret}\n\n"
        "Send it as 'Authorization: Bearer <key>'. More: ltxserve keys create NAME\n",
        err=True,
    )


def _worker_args(settings: Settings, log_level: str) -> list[str]:
    """The options that give an embedded worker this server's settings."""
    args = ["--data-dir", str(settings.data_dir), "--database", settings.database_url,
            "--storage", settings.storage_url, "--lease", str(settings.worker.lease_seconds),
            "--poll", str(settings.worker.poll_seconds), "--log-level", log_level]  # fmt: skip
    if settings.worker.max_running_per_key is not None:
        args += ["--concurrency", str(settings.worker.max_running_per_key)]
    if settings.weights is not None:
        args += ["--weights", str(settings.weights)]
    for network in settings.fetch.allowed_networks:
        args += ["--allow-fetch", str(network)]
    for host in sorted(settings.fetch.allowed_hosts):
        args += ["--allow-fetch", host]
    for (host, port), (address, target) in settings.fetch.connect_to.items():
        args += ["--connect-to", f"{host}:{port}:{address}:{target}"]
    engine = settings.engine
    if engine.device:
        args += ["--device", engine.device]
    args += ["--dtype", engine.dtype.value]
    if engine.fp8:
        args.append("--fp8")
    if engine.offload:
        args.append("--offload")
    args += ["--max-extend", str(float(engine.chaining.longest))]
    return args


def engine_options(
    device: str | None, dtype: ComputeDtype, fp8: bool, offload: bool, max_extend: float
) -> EngineOptions:
    """The engine options the command line's options ask for."""
    chaining = Chaining(longest=Fraction(str(max_extend)))
    return EngineOptions(device=device, dtype=dtype, fp8=fp8, offload=offload, chaining=chaining)


def stopping_handler(stop: Callable[[], None]) -> Callable[[int, FrameType | None], None]:
    """A SIGTERM / SIGINT handler that calls `stop` on the first signal only. Handlers run on the
    main thread between any two bytecodes, even inside a handler already running: a second signal
    that came while the first one's `stop` held its event's lock would wait on that lock for ever (a
    worker a CI run left behind hung so, three handlers deep: `serve` signals its workers when it
    stops, and again when it dies)."""
    stopped = False

    def handle(signum: int, frame: FrameType | None) -> None:
        nonlocal stopped
        if not stopped:
            stopped = True
            stop()

    return handle


def worker(
    data_dir: DataDirOption = None,
    weights: WeightsOption = None,
    database: DatabaseOption = None,
    storage: StorageOption = None,
    allow_fetch: AllowFetchOption = None,
    connect_to: ConnectToOption = None,
    lease: LeaseOption = WorkerSettings.lease_seconds,
    poll: PollOption = WorkerSettings.poll_seconds,
    concurrency: ConcurrencyOption = None,
    device: DeviceOption = None,
    dtype: DtypeOption = EngineOptions.dtype,
    fp8: Fp8Option = EngineOptions.fp8,
    offload: OffloadOption = EngineOptions.offload,
    max_extend: MaxExtendOption = float(Chaining.longest),
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            help="Serve this worker's Prometheus metrics on this port "
            "(a worker under `serve` reports through the API's /metrics instead).",
        ),
    ] = None,
    log_level: LogLevelOption = "info",
    log_format: LogFormatOption = LogFormat.TEXT,
) -> None:
    """Run jobs from the queue on one GPU (start one per GPU, on any machine sharing the database and
    storage). SIGTERM hands the running job back to the queue."""
    from ltxserve.database import open_database, shared_secret
    from ltxserve.inputs import Fetcher, InputResolver
    from ltxserve.jobs.store import JobStore
    from ltxserve.jobs.worker import EngineRenderer, Worker
    from ltxserve.storage import open_storage

    configure_logging(log_level, log_format)
    settings = _settings(
        data_dir, weights, database, storage, allow_fetch, connect_to, lease, poll, concurrency,
        engine=engine_options(device, dtype, fp8, offload, max_extend),
    )  # fmt: skip
    database_engine = open_database(settings.database_url)
    storage_store = open_storage(settings.storage_url, shared_secret(database_engine, "url_signing"))
    renderer = EngineRenderer.load(_weights_dir(settings), settings.engine, settings.media)
    running = Worker(
        JobStore(database_engine),
        storage_store,
        InputResolver(Fetcher(settings.fetch), storage_store, settings.lora_cache),
        renderer,
        settings.worker,
    )
    failed: list[BaseException] = []

    def work() -> None:
        try:
            running.run()
        except BaseException as error:  # the database or storage failed under the loop
            log.exception("worker %s failed", running.id)
            failed.append(error)

    # The work runs in its own thread: a signal handler (which runs on the main thread) must never
    # interrupt the worker inside a lock it then needs to take to stop it.
    thread = threading.Thread(target=work, name="worker")
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stopping_handler(running.stop))
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port)
    log.info("worker %s ready", running.id)
    thread.start()
    while thread.is_alive():
        thread.join(0.5)
    if failed:  # non-zero, so that `serve` or any supervisor starts it again
        log.error("worker %s stopped: %s: %s", running.id, type(failed[0]).__name__, failed[0])
        raise typer.Exit(code=1)
    log.info("worker %s stopped", running.id)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="What the key is for (unique).")],
    storage_quota: StorageQuotaOption = None,
    rpm: RpmOption = None,
    max_unfinished: KeyUnfinishedOption = None,
    concurrency: KeyConcurrencyOption = None,
    seconds_per_day: SecondsPerDayOption = None,
    data_dir: DataDirOption = None,
    database: DatabaseOption = None,
) -> None:
    """Make a key (with limits of its own, or the server's); its secret is printed once and never
    stored."""
    from ltxserve.keys import ApiKeyError, KeyLimits

    limits = KeyLimits(**_limit_changes(storage_quota, rpm, max_unfinished, concurrency, seconds_per_day))
    try:
        key, secret = _keys(data_dir, database).create(name, limits)
    except ApiKeyError as error:
        raise _fail(str(error)) from None
    typer.echo(f"created key {key.id} ({key.name}); it is shown only this once:", err=True)
    typer.echo(secret)


@keys_app.command("list")
def keys_list(data_dir: DataDirOption = None, database: DatabaseOption = None) -> None:
    """Every key: id, name, created, whether it is revoked, and its own limits."""
    import datetime

    for key in _keys(data_dir, database).list_keys():
        created = datetime.datetime.fromtimestamp(key.created_at).isoformat(timespec="seconds")
        state = "active" if key.active else "revoked"
        typer.echo(f"{key.id}  {key.name:<24} created {created}  {state}  {_shown(key.limits)}")


@keys_app.command("set")
def keys_set(
    key: Annotated[str, typer.Argument(help="The key's id or name.")],
    storage_quota: StorageQuotaOption = None,
    rpm: RpmOption = None,
    max_unfinished: KeyUnfinishedOption = None,
    concurrency: KeyConcurrencyOption = None,
    seconds_per_day: SecondsPerDayOption = None,
    data_dir: DataDirOption = None,
    database: DatabaseOption = None,
) -> None:
    """Change a key's limits ('default': the server's again); those not given stay as they are."""
    from ltxserve.keys import ApiKeyError

    try:
        changes = _limit_changes(storage_quota, rpm, max_unfinished, concurrency, seconds_per_day)
        changed = _keys(data_dir, database).set_limits(key, **changes)
    except ApiKeyError as error:
        raise _fail(str(error)) from None
    typer.echo(f"key {changed.id} ({changed.name}): {_shown(changed.limits)}")


def _limit_changes(
    storage_quota: str | None,
    rpm: str | None,
    max_unfinished: str | None,
    concurrency: str | None,
    seconds_per_day: str | None,
) -> dict[str, int | None]:
    """The limits given on the command line, by KeyLimits' names ('default' is None)."""
    given = {"storage_quota": (storage_quota, _byte_size), "requests_per_minute": (rpm, _positive),
             "max_unfinished": (max_unfinished, _positive), "max_running": (concurrency, _positive),
             "seconds_per_day": (seconds_per_day, _positive)}  # fmt: skip
    return {
        name: None if text == "default" else read(text)
        for name, (text, read) in given.items()
        if text is not None
    }


def _shown(limits: "KeyLimits") -> str:
    own = {
        "storage quota": (limits.storage_quota, " bytes"),
        "requests per minute": (limits.requests_per_minute, ""),
        "unfinished jobs": (limits.max_unfinished, ""),
        "running jobs": (limits.max_running, ""),
        "video a day": (limits.seconds_per_day, " s"),
    }
    return ", ".join(
        f"{name}: {'server default' if value is None else f'{value}{unit}'}"
        for name, (value, unit) in own.items()
    )


def _positive(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise typer.BadParameter(f"{text!r} is not a whole number of at least 1, nor 'default'")
    return int(text)


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="The key's id or name.")],
    data_dir: DataDirOption = None,
    database: DatabaseOption = None,
) -> None:
    """Revoke a key: requests with it are refused from now on."""
    from ltxserve.keys import ApiKeyError

    try:
        revoked = _keys(data_dir, database).revoke(key)
    except ApiKeyError as error:
        raise _fail(str(error)) from None
    typer.echo(f"revoked key {revoked.id} ({revoked.name})")


def _byte_size(text: str) -> int:
    """500MB, 10GiB, 1048576: a size as people write it (pydantic's ByteSize reads it)."""
    from pydantic import ByteSize, TypeAdapter, ValidationError

    try:
        return int(TypeAdapter(ByteSize).validate_python(text))
    except ValidationError:
        raise typer.BadParameter(f"{text!r} is not a size such as 500MB or 10GiB") from None


def _keys(data_dir: Path | None, database: str | None) -> "KeyStore":
    from ltxserve.database import open_database
    from ltxserve.keys import KeyStore

    settings = Settings(data_dir=(data_dir or default_data_dir()).expanduser().resolve(), database=database)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return KeyStore(open_database(settings.database_url))


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(worker)
    app.add_typer(keys_app, name="keys")
