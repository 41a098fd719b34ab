"""The smrotate CLI in a fresh process against a moto server, for the benchmarks that time it
as an operator would run it (imports included): bench/fleet.py and bench/waves.py."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_cli(url: str, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """`smrotate ARGS --endpoint-url URL --output json` in a fresh interpreter; (the finished
    process, its wall time in seconds)."""
    started = time.perf_counter()
    command = [sys.executable, "-m", "smrotate.operator.cli", *args]
    done = subprocess.run(
        [*command, "--endpoint-url", url, "--output", "json"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "AWS_EC2_METADATA_DISABLED": "true"},
    )
    return done, time.perf_counter() - started
