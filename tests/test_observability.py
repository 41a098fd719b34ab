"""Logs and metrics: JSON lines with the rotation's keys, EMF per step, and no secret anywhere."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import MakeSecret, moto_backend
from helpers import new_token, step_event
from memory import MemoryRotator, MemoryTarget

from framework.driver import LocalDriver
from framework.errors import LoginRefusedError, TargetError

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

        def change_own_password(self, session: Any, secret: dict[str, Any], password: str) -> None:
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
