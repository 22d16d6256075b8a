"""Prometheus metrics (prometheus-client): every metric the API and the workers record is defined
here, once; the API's `/metrics` (`api.metrics`) serves them.

The workers `serve` starts write theirs to files in PROMETHEUS_MULTIPROC_DIR, which `serve` sets for
itself and them, and the API's `/metrics` adds them up (prometheus-client's multiprocess mode). A
worker on another machine serves its own: `ltxserve worker --metrics-port 9101`.
"""

from prometheus_client import Counter, Gauge, Histogram

_SECONDS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 3600)

http_request_seconds = Histogram(
    "ltxserve_http_request_duration_seconds", "HTTP requests by method, route and status.",
    ["method", "route", "status"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60),
)  # fmt: skip
queue_wait_seconds = Histogram(
    "ltxserve_job_queue_wait_seconds", "Queued to taken, per model.", ["model"], buckets=_SECONDS
)
run_seconds = Histogram(
    "ltxserve_job_run_seconds",
    "Taken to ended, per model and outcome.",
    ["model", "outcome"],
    buckets=_SECONDS,
)
stage_seconds = Histogram(
    "ltxserve_job_stage_seconds", "Time in each stage, per model.", ["model", "stage"], buckets=_SECONDS
)
denoise_steps = Counter("ltxserve_denoise_steps", "Denoising steps run (rate: steps per second).", ["model"])
retries = Counter("ltxserve_job_retries", "Jobs taken again after an attempt was lost.", ["model"])
lease_expiries = Counter("ltxserve_lease_expiries", "Jobs queued again because their worker was lost.")
heartbeats = Counter("ltxserve_worker_heartbeats", "Leases renewed by running workers.")
webhooks = Counter("ltxserve_webhook_deliveries", "Webhook calls, by outcome.", ["outcome"])
fetch_failures = Counter("ltxserve_fetch_failures", "Inputs that could not be fetched, by cause.", ["cause"])
gpu_memory_bytes = Gauge(
    "ltxserve_gpu_memory_bytes", "GPU memory the worker holds.", ["device"], multiprocess_mode="liveall"
)
