"""Structured logs and metrics for rotation steps (Powertools Logger and Metrics), and a process
whose logging never carries a secret.

Every log line is JSON, passes through `redaction.scrub_log` as its last step, and carries the
correlation id (the ClientRequestToken), the step, the secret ARN and the version. Each step
emits one CloudWatch EMF record: `StepDuration` (ms) and `StepSucceeded` or `StepFailed`, with
the dimension `step`. Set POWERTOOLS_METRICS_DISABLED=true to silence metrics off Lambda (the
CLI does).

Importing this module also makes every log record of the process safe, whoever logs it and
whichever handler writes it (Lambda's own handler on the root logger, a `logging.basicConfig`
handler added later, botocore's records propagating to them):

- `install_log_scrubbing` wraps the process's LogRecord factory, so each record is scrubbed as
  it is made, before any filter or handler sees it: its message is formatted with its arguments
  and scrubbed, and so are its exception text, its stack and the messages of its exceptions. A
  filter on a handler or a logger would not do: logger filters skip records that propagate from
  child loggers, and handlers added after import would have none. Attributes given with `extra=`
  are set on a record after the factory has run: a filter that the factory adds to each handler
  of the root logger, as handlers appear, scrubs those.
- `quiet_wire_loggers` sets the botocore, boto3, urllib3 and s3transfer loggers to INFO when no
  level was set for them, so that a root logger at DEBUG (Lambda's ApplicationLogLevel=DEBUG)
  does not turn on botocore's request and response bodies. A level set on those loggers, or
  SMROTATE_WIRE_LOGGING=true, is obeyed; their bodies are then scrubbed like any record, by
  registered value and by field name (`SecretString`, `RotationToken`...).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, TextIO, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from smrotate import redaction

SERVICE = "smrotate"
NAMESPACE_DEFAULT = "smrotate"
_stream_name = "stdout"
WIRE_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer")
WIRE_LOGGING_VARIABLE = "SMROTATE_WIRE_LOGGING"
# What LogRecord sets itself; any other attribute of a record came from `extra=`.
_RECORD_ATTRIBUTES = frozenset(
    logging.LogRecord("", logging.INFO, "", 0, "", (), None).__dict__
) | {"message", "asctime", "taskName"}


def _scrubbing_dumps(obj: Any) -> str:
    return redaction.scrub_log(json.dumps(obj, default=str, separators=(",", ":")))


def _scrubbed(value: Any) -> Any:
    """`value` (a log message that is not a string, such as Powertools' dicts) scrubbed: strings
    inside containers are scrubbed, numbers and None kept, anything else made a scrubbed str."""
    if isinstance(value, str):
        return redaction.scrub_log(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Mapping):
        return {_scrubbed(k): _scrubbed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_scrubbed(v) for v in value)
    return redaction.scrub_log(str(value))


_TRACEBACKS = logging.Formatter()


def _unformatted(msg: Any, args: Any) -> str:
    """A message that its arguments do not fit, and the arguments, as text."""
    parts = []
    for part in (msg, args):
        try:
            parts.append(part if isinstance(part, str) else repr(part))
        except Exception:
            parts.append("[a value that cannot be shown]")
    return f"{parts[0]} (log arguments that do not fit: {parts[1]})"


def scrub_record(record: logging.LogRecord) -> None:
    """Scrub a record in place: message and arguments (formatted into the message), exception
    (its messages and its text) and stack. Never raises: logging must go on."""
    try:
        if isinstance(record.msg, str) or record.args:
            message = record.getMessage()
            record.msg, record.args = redaction.scrub_log(message), ()
        else:
            record.msg = _scrubbed(record.msg)
    except Exception:  # a bad format or a broken __str__: show what can be shown, scrubbed
        record.msg, record.args = redaction.scrub_log(_unformatted(record.msg, record.args)), ()
    try:
        if record.exc_info and record.exc_info[1] is not None:
            redaction.scrub_exception(record.exc_info[1], redaction.scrub_log)
            record.exc_text = redaction.scrub_log(_TRACEBACKS.formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redaction.scrub_log(record.exc_text)
        if record.stack_info:
            record.stack_info = redaction.scrub_log(record.stack_info)
    except Exception:
        record.exc_info, record.exc_text, record.stack_info = None, None, None


class ScrubExtras(logging.Filter):
    """A handler filter: scrubs the attributes that `extra=` put on a record (the record factory
    has scrubbed the rest). Added by the record factory to every handler of the root logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in list(record.__dict__.items()):
            if name not in _RECORD_ATTRIBUTES and isinstance(value, str):
                scrubbed = redaction.scrub_log(value)
                if scrubbed != value:
                    setattr(record, name, scrubbed)
        return True


_SCRUB_EXTRAS = ScrubExtras()


def _guard_root_handlers() -> None:
    for handler in logging.getLogger().handlers:
        if _SCRUB_EXTRAS not in handler.filters:
            handler.addFilter(_SCRUB_EXTRAS)


def install_log_scrubbing() -> None:
    """Make every LogRecord this process creates from now on scrubbed (see the module docstring).

    Wraps the current record factory, so a factory installed before (Lambda's runtime, a
    library) keeps working; does nothing when ours is already the current one.
    """
    previous = logging.getLogRecordFactory()
    if getattr(previous, "smrotate_scrubbing", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        scrub_record(record)
        _guard_root_handlers()
        return record

    factory.smrotate_scrubbing = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
    _guard_root_handlers()


def wire_logging_requested(env: Mapping[str, str] | None = None) -> bool:
    """True when SMROTATE_WIRE_LOGGING asks for botocore's wire logs (true, 1, yes, y)."""
    raw = (os.environ if env is None else env).get(WIRE_LOGGING_VARIABLE, "")
    return raw.strip().lower() in {"true", "1", "yes", "y"}


def quiet_wire_loggers(env: Mapping[str, str] | None = None) -> None:
    """Set the WIRE_LOGGERS that have no level of their own to INFO, unless
    SMROTATE_WIRE_LOGGING asks for their DEBUG records (a level set on them is always obeyed)."""
    if wire_logging_requested(env):
        return
    for name in WIRE_LOGGERS:
        wire = logging.getLogger(name)
        if wire.level == logging.NOTSET:
            wire.setLevel(logging.INFO)


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


install_log_scrubbing()
quiet_wire_loggers()

logger = Logger(
    service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE),
    logger_handler=_ConsoleHandler(),
    json_serializer=_scrubbing_dumps,
)


def new_metrics() -> Metrics:
    """A Metrics emitter in the namespace POWERTOOLS_METRICS_NAMESPACE (default smrotate)."""
    return Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE_DEFAULT))


def emit_step_metrics(
    metrics: Metrics, step: str, duration_ms: float, succeeded: bool, *, flush: bool = True
) -> None:
    """One EMF record for one step: duration and outcome, dimension `step`; written now, or
    (`flush` false) by `log_metrics` when the invocation ends."""
    metrics.clear_metrics()
    metrics.add_dimension(name="step", value=step)
    metrics.add_metric(name="StepDuration", unit=MetricUnit.Milliseconds, value=duration_ms)
    metrics.add_metric(
        name="StepSucceeded" if succeeded else "StepFailed", unit=MetricUnit.Count, value=1
    )
    if flush:
        metrics.flush_metrics()


LAMBDA_CONTEXT_FIELDS = ("function_name", "memory_limit_in_mb", "invoked_function_arn",
                         "aws_request_id")  # fmt: skip
TRACING_PACKAGE = "aws_xray_sdk"


def is_lambda_context(context: Any) -> bool:
    """True for a context that Lambda's runtime passes (or one with the same fields)."""
    return context is not None and all(hasattr(context, f) for f in LAMBDA_CONTEXT_FIELDS)


def tracing_enabled(env: Mapping[str, str] | None = None) -> bool:
    """True on Lambda when POWERTOOLS_TRACE_DISABLED is not true and the `tracing` extra
    (aws-xray-sdk) is installed; looks the package up without importing it."""
    import importlib.util

    env = os.environ if env is None else env
    if env.get("POWERTOOLS_TRACE_DISABLED", "").strip().lower() in {"true", "1"}:
        return False
    return bool(env.get("AWS_LAMBDA_FUNCTION_NAME")) and (
        importlib.util.find_spec(TRACING_PACKAGE) is not None
    )


def lambda_entry(run: Callable[[Any, Any], None], metrics: Metrics) -> Callable[[Any, Any], None]:
    """`run` wrapped in Powertools' idioms for a Lambda invocation: `inject_lambda_context`
    (the ClientRequestToken as correlation id, `cold_start` and the `function_*` keys, state
    cleared between invocations), `log_metrics` (the step's metrics and the ColdStart metric,
    flushed when the invocation ends, failed or not; none while POWERTOOLS_METRICS_DISABLED is
    true, when Powertools would still write ColdStart), and a Tracer when `tracing_enabled`
    (`capture_response=False`; no module patched, so no request of the Secrets Manager client,
    which carries secret values, is ever traced)."""
    entry = logger.inject_lambda_context(
        correlation_id_path="ClientRequestToken", clear_state=True
    )(run)
    measured = metrics.log_metrics(capture_cold_start_metric=True)(entry)
    quiet = metrics.log_metrics(entry)

    def flushed(event: Any, context: Any) -> Any:
        # Powertools writes the ColdStart metric (single_metric) even when metrics are disabled.
        from aws_lambda_powertools.metrics.functions import is_metrics_disabled

        return (quiet if is_metrics_disabled() else measured)(event, context)

    entry = flushed
    if tracing_enabled():
        from aws_lambda_powertools import Tracer

        tracer = Tracer(service=logger.service, auto_patch=False)
        entry = tracer.capture_lambda_handler(capture_response=False)(entry)
    return cast(Callable[[Any, Any], None], entry)
