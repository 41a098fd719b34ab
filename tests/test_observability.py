"""Logs and metrics: JSON lines with the rotation's keys, EMF per step, and no secret anywhere."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from conftest import MakeSecret, moto_backend
from helpers import new_token, step_event
from memory import MemoryRotator, MemoryTarget

from smrotate import observability, redaction
from smrotate.errors import LoginRefusedError, TargetError
from smrotate.operator.driver import LocalDriver

ROTATION_TOKEN = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0-rt"


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_every_step_line_carries_the_rotation_keys(
    sm: Any, make_secret: MakeSecret, capsys: pytest.CaptureFixture[str]
) -> None:
    rotator = MemoryRotator(MemoryTarget(passwords={"app": "app-password-1"}), env={})
    arn = make_secret({"username": "app", "password": "app-password-1"})
    result = LocalDriver(rotator.handle).rotate(arn)
    lines = json_lines(capsys.readouterr().out)
    assert lines
    for line in lines:
        assert line["correlation_id"] == result.token
        assert line["version"] == result.token
        assert line["secret_arn"] == arn
        assert line["step"] in {"createSecret", "setSecret", "testSecret", "finishSecret"}
    assert [line["step"] for line in lines if line.get("outcome") == "succeeded"] == [
        "createSecret",
        "setSecret",
        "testSecret",
        "finishSecret",
    ]


def test_metrics_per_step(
    sm: Any,
    make_secret: MakeSecret,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    target = MemoryTarget(passwords={"app": "app-password-1"})
    rotator = MemoryRotator(target, env={})
    arn = make_secret({"username": "app", "password": "app-password-1"})
    target.down = True
    LocalDriver(rotator.handle).rotate(arn)
    records = [line for line in json_lines(capsys.readouterr().out) if "_aws" in line]
    assert [(r["step"], "StepSucceeded" in r, "StepFailed" in r) for r in records] == [
        ("createSecret", True, False),
        ("setSecret", False, True),
    ]
    assert all(r["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "smrotate" for r in records)
    assert all(len(r["StepDuration"]) == 1 and r["StepDuration"][0] >= 0 for r in records)


def test_no_secret_value_or_rotation_token_in_any_output(
    sm: Any,
    make_secret: MakeSecret,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rotations that succeed and fail, with a RotationToken; scan logs, metrics and errors."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")

    class Leaky(MemoryRotator):
        """A target whose errors quote the password, as careless drivers do."""

        def set_own_password(self, session: Any, account: Any, password: str) -> None:
            raise TargetError(f"ALTER failed near '{password}'")

    target = MemoryTarget(passwords={"app": "app-password-1"})
    errors: list[str] = []
    arn = make_secret({"username": "app", "password": "app-password-1"})
    for rotator in (MemoryRotator(target, env={}), Leaky(target, env={})):
        token = new_token()
        for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
            try:
                rotator.handle(step_event(step, arn, token, RotationToken=ROTATION_TOKEN))
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                break
    target.passwords["app"] = "changed-behind-our-back"
    try:
        MemoryRotator(target, env={}).handle(step_event("createSecret", arn, new_token()))
        LocalDriver(MemoryRotator(target, env={}).handle).rotate(arn)
    except Exception as exc:
        errors.append(str(exc))
    assert errors, "the leaky rotator must have failed"
    out, err = capfd.readouterr()
    secrets = {ROTATION_TOKEN, "app-password-1", "changed-behind-our-back"}
    for version in moto_backend().secrets[arn].versions.values():
        if "secret_string" in version:
            secrets.add(version["secret_string"])
            secrets.add(json.loads(version["secret_string"])["password"])
    assert len(secrets) >= 5
    for text in [out, err, *errors]:
        for secret in secrets:
            assert secret not in text
            assert json.dumps(secret)[1:-1] not in text
    assert "[REDACTED]" in "".join(errors)


def test_login_refused_message_names_user_not_password(sm: Any, make_secret: MakeSecret) -> None:
    target = MemoryTarget(passwords={"app": "other-password-1"})
    arn = make_secret({"username": "app", "password": "app-password-1"})
    result = LocalDriver(MemoryRotator(target, env={}).handle).rotate(arn)
    assert isinstance(result.error, LoginRefusedError)
    assert "'app'" in str(result.error)
    assert "password-1" not in str(result.error)


# ------------------------------------------------------------- every record of the process

AWKWARD = "pw-Zq7\"'\\%+&=/ ;é\u2028x"


@pytest.fixture
def registry() -> Iterator[None]:
    redaction.forget_all()
    yield
    redaction.forget_all()


def botocore_lines(secret_string: str, rotation_token: str) -> list[str]:
    """What botocore 1.4x writes at DEBUG for a PutSecretValue and a GetSecretValue response."""
    body = json.dumps({"SecretString": secret_string, "RotationToken": rotation_token}).encode()
    return [
        "Making request for OperationModel(name=PutSecretValue) with params: "
        + repr({"url_path": "/", "body": body}),
        "Response body:\n" + repr(json.dumps({"SecretString": secret_string}).encode()),
        "params " + urlencode({"SecretString": secret_string, "RotationToken": rotation_token}),
        json.dumps({"message": "Response body: " + body.decode()}),  # a JSON line quoting it
    ]


def test_registered_values_are_scrubbed_in_every_spelling_botocore_logs(registry: None) -> None:
    secret_string = json.dumps({"username": "app", "password": AWKWARD})
    rotation_token = "rt-" + "ab12" * 10
    redaction.register_secret(secret_string, json.loads(secret_string))
    redaction.register(rotation_token)
    for line in botocore_lines(secret_string, rotation_token):
        scrubbed = redaction.scrub(line)  # by registered value only, no field names
        assert "Zq7" not in scrubbed, line
        assert "ab12ab12" not in scrubbed, line
        assert redaction.MARKER in scrubbed


def test_fields_named_like_secrets_are_blanked_unregistered(registry: None) -> None:
    """GetSecretValue's response is logged before smrotate has read it: blank by field name."""
    secret_string = json.dumps({"username": "app", "password": AWKWARD})
    for line in botocore_lines(secret_string, "rt-" + "cd34" * 10):
        scrubbed = redaction.scrub_log(line)
        assert "Zq7" not in scrubbed, line
        assert "cd34cd34" not in scrubbed, line
    nested = json.dumps({"outer": json.dumps({"inner": json.dumps({"password": "Zq7-x"})})})
    assert "Zq7" not in redaction.scrub_fields(nested)
    for text in (
        'x = {"Password": "Zq7\\\\"} and more',  # a value that ends in a backslash: blank on
        "host=db user=app password=Zq7;x sslmode=verify-full",
        "host=db password='Zq7 \\' x' user=app",
        "{'X-Amz-Security-Token': b'Zq7/x=='}",
    ):
        scrubbed = redaction.scrub_fields(text)
        assert "Zq7" not in scrubbed, text
        assert redaction.MARKER in scrubbed
    assert redaction.scrub_fields('{"username": "app", "token": "t"}') == (
        '{"username": "app", "token": "t"}'
    )


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(message)s %(dsn)s"))
        self.lines: list[str] = []
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not hasattr(record, "dsn"):
            record.dsn = "-"
        self.records.append(record)
        self.lines.append(self.format(record))


@pytest.fixture
def root_capture() -> Iterator[_Capture]:
    """A handler added to the root logger after smrotate was imported; the root at DEBUG."""
    root = logging.getLogger()
    handler, level = _Capture(), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


def test_every_record_of_a_child_logger_is_scrubbed(registry: None, root_capture: _Capture) -> None:
    redaction.register("Zq7-secret-1")
    log = logging.getLogger("some.library.deep")  # propagates to the root's handlers
    log.debug("connecting with %s", "Zq7-secret-1")
    log.debug("dict %(pw)s", {"pw": "Zq7-secret-1"})
    log.debug({"password": "Zq7-secret-1", "n": 1})
    log.debug("dsn", extra={"dsn": "password=Zq7-secret-1"})
    log.debug("stack", stack_info=True)
    try:
        raise ValueError("bad password Zq7-secret-1")
    except ValueError:
        log.exception("failed")
    log.debug("%d", "Zq7-secret-1")  # arguments that do not fit: shown as they are, scrubbed
    text = "\n".join(root_capture.lines)
    assert "Zq7" not in text
    assert text.count(redaction.MARKER) >= 6
    assert root_capture.records[2].msg == {"password": redaction.MARKER, "n": 1}
    failure = root_capture.records[5]
    assert failure.exc_text
    assert "bad password [REDACTED]" in failure.exc_text
    assert failure.exc_info
    assert str(failure.exc_info[1]) == "bad password [REDACTED]"
    assert root_capture.lines[-1] == (
        "some.library.deep %d (log arguments that do not fit: ('[REDACTED]',)) -"
    )


def test_the_factory_wraps_the_previous_one_once(registry: None, root_capture: _Capture) -> None:
    previous = logging.getLogRecordFactory()
    made: list[str] = []

    def another(*args: Any, **kwargs: Any) -> logging.LogRecord:
        made.append("another")
        return previous(*args, **kwargs)

    logging.setLogRecordFactory(another)  # a library replaces the factory after import
    try:
        redaction.register("Zq7-secret-2")
        observability.install_log_scrubbing()
        wrapped = logging.getLogRecordFactory()
        observability.install_log_scrubbing()
        assert logging.getLogRecordFactory() is wrapped
        logging.getLogger("x").warning("Zq7-secret-2")
        assert made == ["another"]
        assert root_capture.lines[-1] == "x [REDACTED] -"
    finally:
        logging.setLogRecordFactory(previous)


def test_wire_loggers_are_quiet_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    loggers = [logging.getLogger(name) for name in observability.WIRE_LOGGERS]
    levels = [lg.level for lg in loggers]
    try:
        assert logging.getLogger("botocore").level == logging.INFO  # set at import
        for lg in loggers:
            lg.setLevel(logging.NOTSET)
        observability.quiet_wire_loggers({observability.WIRE_LOGGING_VARIABLE: "true"})
        assert all(lg.level == logging.NOTSET for lg in loggers)
        logging.getLogger("urllib3").setLevel(logging.DEBUG)  # asked for by hand: obeyed
        observability.quiet_wire_loggers({})
        assert logging.getLogger("urllib3").level == logging.DEBUG
        assert logging.getLogger("botocore").level == logging.INFO
        assert logging.getLogger("boto3").level == logging.INFO
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


@dataclass(frozen=True)
class FakeLambdaContext:
    """The fields of the context Lambda's runtime passes to a handler."""

    function_name: str = "rotator-postgresql"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:rotator-postgresql"
    aws_request_id: str = "11111111-2222-3333-4444-555555555555"


def test_the_lambda_entry_point_uses_powertools_idioms(
    sm: Any,
    make_secret: MakeSecret,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """inject_lambda_context: the ClientRequestToken is the correlation id, cold_start and the
    function_* keys are on every line; log_metrics: the step's metrics and one ColdStart metric,
    written when the invocation ends, a failed one too."""
    import aws_lambda_powertools.logging.logger as powertools_logger
    from aws_lambda_powertools.metrics.provider import cold_start

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.setattr(powertools_logger, "is_cold_start", True)
    monkeypatch.setattr(cold_start, "is_cold_start", True)
    target = MemoryTarget(passwords={"app": "app-password-1"})
    handler = MemoryRotator.handler(target=target, env={})
    arn = make_secret({"username": "app", "password": "app-password-1"})
    token = new_token()
    capsys.readouterr()
    for step in ("createSecret", "setSecret"):
        handler(step_event(step, arn, token), FakeLambdaContext())
    target.down = True
    with pytest.raises(TargetError):
        handler(step_event("testSecret", arn, token), FakeLambdaContext())
    lines = json_lines(capsys.readouterr().out)
    logs = [line for line in lines if "_aws" not in line]
    assert logs
    assert all(line["correlation_id"] == token for line in logs)
    assert all(line["function_name"] == "rotator-postgresql" for line in logs)
    assert all(line["function_request_id"] == FakeLambdaContext.aws_request_id for line in logs)
    assert [line["cold_start"] for line in logs if line.get("outcome")] == [True, False, False]
    metrics = [line for line in lines if "_aws" in line]
    assert sum("ColdStart" in line for line in metrics) == 1
    steps = [(m["step"], "StepFailed" in m) for m in metrics if "StepDuration" in m]
    assert steps == [("createSecret", False), ("setSecret", False), ("testSecret", True)]


def test_disabled_metrics_write_no_cold_start_metric(
    sm: Any,
    make_secret: MakeSecret,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """POWERTOOLS_METRICS_DISABLED=true (the CLI, the tests): no EMF record at all, although
    Powertools' own log_metrics would still write the ColdStart one."""
    from aws_lambda_powertools.metrics.provider import cold_start

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.setattr(cold_start, "is_cold_start", True)
    target = MemoryTarget(passwords={"app": "app-password-1"})
    handler = MemoryRotator.handler(target=target, env={})
    arn = make_secret({"username": "app", "password": "app-password-1"})
    capsys.readouterr()
    handler(step_event("createSecret", arn, new_token()), FakeLambdaContext())
    lines = json_lines(capsys.readouterr().out)
    assert any(line.get("outcome") for line in lines)  # the step ran and logged
    assert [line for line in lines if "_aws" in line] == []


@pytest.mark.parametrize(
    ("variables", "level"),
    [
        ({}, "INFO"),
        ({"POWERTOOLS_LOG_LEVEL": "WARNING"}, "WARNING"),
        ({"AWS_LAMBDA_LOG_LEVEL": "DEBUG"}, "DEBUG"),  # Lambda's advanced logging controls
    ],
)
def test_the_log_level_comes_from_powertools_or_lambda(
    variables: dict[str, str], level: str
) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if "LOG_LEVEL" not in k} | variables
    code = "import logging; from smrotate.observability import logger; "
    code += "print(logging.getLevelName(logger.log_level))"
    shown = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert shown.stdout.strip() == level
