"""Structured logs and metrics for rotation steps (Powertools Logger and Metrics).

Every log line is JSON, passes through `redaction.scrub` as its last step, and carries the
correlation id (the ClientRequestToken), the step, the secret ARN and the version. Each step
emits one CloudWatch EMF record: `StepDuration` (ms) and `StepSucceeded` or `StepFailed`, with
the dimension `step`. Set POWERTOOLS_METRICS_DISABLED=true to silence metrics off Lambda (the
CLI does).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any, TextIO

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from framework import redaction

SERVICE = "smrotate"
NAMESPACE_DEFAULT = "smrotate"
_stream_name = "stdout"


def _scrubbing_dumps(obj: Any) -> str:
    return redaction.scrub(json.dumps(obj, default=str, separators=(",", ":")))


class _ConsoleHandler(logging.StreamHandler[TextIO]):
    """Writes to the current sys.stdout (or sys.stderr) at each record, so redirection works."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr if _stream_name == "stderr" else sys.stdout

    @stream.setter
    def stream(self, value: TextIO) -> None:
        """Ignored: the stream is chosen per record."""


def log_to_stderr() -> None:
    """Send log lines to standard error (the CLI keeps standard output for its results)."""
    set_log_stream("stderr")


def log_stream() -> str:
    """Where log lines go: "stdout" or "stderr"."""
    return _stream_name


def set_log_stream(name: str) -> None:
    """Send log lines to "stdout" or "stderr" (one process-wide switch)."""
    global _stream_name  # noqa: PLW0603 - one process-wide switch
    if name not in ("stdout", "stderr"):
        raise ValueError("the log stream is stdout or stderr")
    _stream_name = name


logger = Logger(
    service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE),
    logger_handler=_ConsoleHandler(),
    json_serializer=_scrubbing_dumps,
)


def new_metrics() -> Metrics:
    """A Metrics emitter in the namespace POWERTOOLS_METRICS_NAMESPACE (default smrotate)."""
    return Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE_DEFAULT))


def emit_step_metrics(metrics: Metrics, step: str, duration_ms: float, succeeded: bool) -> None:
    """One EMF record for one step: duration and outcome, dimension `step`."""
    metrics.clear_metrics()
    metrics.add_dimension(name="step", value=step)
    metrics.add_metric(name="StepDuration", unit=MetricUnit.Milliseconds, value=duration_ms)
    metrics.add_metric(
        name="StepSucceeded" if succeeded else "StepFailed", unit=MetricUnit.Count, value=1
    )
    metrics.flush_metrics()
