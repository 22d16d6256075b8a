"""The soak benchmark's own command, briefly: every dialect's clients submit, poll or stream, and
download through `ltxserve serve` with workers in their own process, and every job is accounted for
exactly once (the full run, 200 clients for 10 minutes, is `benchmarks/soak.py` with no options)."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_short_soak_has_no_errors_and_accounts_for_every_job_once() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "soak.py"), "--clients", "8", "--seconds", "8",
         "--poll", "0.5", "--job-seconds", "0.2"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    summary = re.search(r"(\d+) requests, (\d+) jobs, (\d+) errors", run.stdout)
    assert summary is not None, run.stdout
    requests, jobs, errors = map(int, summary.groups())
    assert errors == 0 and jobs >= 8 and requests > 3 * jobs
    assert f"jobs accounted for exactly once: {jobs} of {jobs}" in run.stdout
    submitted = set(re.findall(r"^(\w+) submit +[1-9]\d* +0 ", run.stdout, re.M))
    assert submitted == {"oxen", "fal", "ltx", "openai"}, "every dialect, no errors"
    assert "fal status stream" in run.stdout and re.search(r"^api\s+\d", run.stdout, re.M), "RSS per process"
