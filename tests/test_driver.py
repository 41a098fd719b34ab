"""The local driver: AWS's in-progress rule, new and resumed tokens, first failure stops."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import MakeSecret, labels, moto_backend
from helpers import count_calls, new_token, set_labels
from memory import MemoryRotator, MemoryTarget

from smrotate import labels as labels_module
from smrotate import rotator as rotator_module
from smrotate.errors import RotationInProgressError, RotationStateError
from smrotate.events import Step
from smrotate.labels import rotation_in_progress, rotation_starting
from smrotate.operator.driver import LocalDriver
from smrotate.store import claim_label

USER = {"username": "app", "password": "app-password-1"}


@pytest.fixture
def rotator() -> MemoryRotator:
    return MemoryRotator(MemoryTarget(passwords={"app": USER["password"]}), env={})


def test_runs_the_four_steps_in_order_through_the_handler(sm: Any, make_secret: MakeSecret) -> None:
    arn = make_secret(USER)
    seen: list[dict[str, Any]] = []
    rotator = MemoryRotator(MemoryTarget(passwords={"app": USER["password"]}), env={})

    def handler(event: Any, context: Any) -> None:
        seen.append(dict(event))
        assert context.aws_request_id
        rotator.handle(event, context)

    reported: list[tuple[Step, BaseException | None]] = []
    result = LocalDriver(handler).rotate(arn, on_step=lambda s, e: reported.append((s, e)))
    assert result.ok
    assert [e["Step"] for e in seen] == ["createSecret", "setSecret", "testSecret", "finishSecret"]
    assert {e["ClientRequestToken"] for e in seen} == {result.token}
    assert {e["SecretId"] for e in seen} == {arn}
    assert reported == [(s, None) for s in result.steps_done]


def test_never_calls_rotate_secret(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator
) -> None:
    arn = make_secret(USER)
    with count_calls() as calls:
        assert LocalDriver(rotator.handle).rotate(arn).ok
    assert "RotateSecret" not in calls


def test_refuses_to_start_while_a_rotation_is_unfinished(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator
) -> None:
    arn = make_secret(USER)
    driver = LocalDriver(rotator.handle)
    rotator.target.down = True
    stuck = driver.rotate(arn)
    assert stuck.failed_step is Step.SET
    with pytest.raises(RotationInProgressError, match=f"Resume it with --resume {stuck.token}"):
        driver.rotate(arn)
    with pytest.raises(RotationInProgressError, match="is not the rotation in progress"):
        driver.rotate(arn, token=new_token())
    rotator.target.down = False
    assert driver.rotate(arn, token=stuck.token).ok


def test_refusals_have_the_engine_wording(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator
) -> None:
    arn = make_secret(USER, name="app/db")
    driver = LocalDriver(rotator.handle)
    rotator.target.down = True
    stuck = driver.rotate(arn)
    with pytest.raises(RotationInProgressError) as info:
        driver.rotate("app/db")
    assert str(info.value) == rotation_in_progress("app/db", stuck.token, "app/db")
    assert "smrotate cancel app/db --cleanup --rotator ROTATOR" in str(info.value)


def test_finish_secret_makes_the_label_moves_of_smrotate_labels(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = make_secret(USER)
    before = moto_backend().secrets[arn].default_version_id
    calls: list[tuple[Any, ...]] = []
    real = labels_module.finish_labels

    def finish_labels(*args: Any) -> None:
        calls.append(args[1:])
        real(*args)

    monkeypatch.setattr(rotator_module, "finish_labels", finish_labels)
    result = LocalDriver(rotator.handle).rotate(arn)
    assert result.ok
    assert calls == [(arn, result.token, before)]
    assert labels(arn) == {before: ["AWSPREVIOUS"], result.token: ["AWSCURRENT"]}


def test_pending_on_the_current_version_is_not_a_rotation_in_progress(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator
) -> None:
    arn = make_secret(USER)
    current = moto_backend().secrets[arn].default_version_id
    set_labels(moto_backend().secrets[arn].name, current, ["AWSCURRENT", "AWSPENDING"])
    assert LocalDriver(rotator.handle).rotate(arn).ok


def test_a_given_new_token_is_used(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator
) -> None:
    arn = make_secret(USER)
    token = new_token()
    result = LocalDriver(rotator.handle).rotate(arn, token=token)
    assert result.ok
    assert labels(moto_backend().secrets[arn].name)[token] == ["AWSCURRENT"]


def test_resuming_a_finished_rotation_is_a_no_op(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator
) -> None:
    arn = make_secret(USER)
    driver = LocalDriver(rotator.handle)
    done = driver.rotate(arn)
    again = driver.rotate(arn, token=done.token)
    assert again.ok
    assert rotator.target.changes == [("own", "app")]


def test_a_version_no_longer_pending_cannot_be_resumed(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator
) -> None:
    arn = make_secret(USER)
    driver = LocalDriver(rotator.handle)
    first = driver.rotate(arn)
    driver.rotate(arn)
    with pytest.raises(RotationStateError, match="no longer pending"):
        driver.rotate(arn, token=first.token)  # now AWSPREVIOUS


def test_stops_at_the_first_failure(sm: Any, make_secret: MakeSecret) -> None:
    arn = make_secret(USER)
    calls: list[str] = []

    def handler(event: Any, context: Any) -> None:
        calls.append(event["Step"])
        if event["Step"] == "setSecret":
            raise RuntimeError("boom")

    result = LocalDriver(handler).rotate(arn)
    assert calls == ["createSecret", "setSecret"]
    assert result.steps_done == [Step.CREATE]
    assert result.failed_step is Step.SET
    assert isinstance(result.error, RuntimeError)
    assert not result.ok


# ------------------------------------------------- two drivers at once (defect 9)


def rival_version(arn: str, version: str, stages: list[str]) -> None:
    """A version that another driver's rotation wrote behind this one's back."""
    moto_backend().secrets[arn].versions[version] = {
        "createdate": 0,
        "version_id": version,
        "version_stages": list(stages),
        "secret_string": json.dumps({"username": "app", "password": "rival-password-1"}),
    }


def test_refuses_to_start_while_another_rotation_claims_the_secret(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator
) -> None:
    arn = make_secret(USER)
    rival = new_token()
    rival_version(arn, rival, [claim_label(rival)])
    with pytest.raises(RotationInProgressError, match=f"is starting: version {rival} claims"):
        LocalDriver(rotator.handle).rotate(arn)
    assert rotator.target.logins == []
    with pytest.raises(RotationInProgressError) as info:
        LocalDriver(rotator.handle).rotate(arn)
    name = moto_backend().secrets[arn].name
    assert str(info.value) == rotation_starting(name, rival, arn)


def test_a_rotation_that_loses_the_secret_at_create_raises_and_changes_nothing(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator
) -> None:
    """Another driver claims the secret between this one's check and its createSecret: the
    rotation backs off and raises, as if it had been refused at the start."""
    arn = make_secret(USER)
    rival = new_token()
    original = rotator.build_pending

    def build_while_another_starts(ctx: Any) -> Any:
        rival_version(arn, rival, [claim_label(rival)])
        return original(ctx)

    rotator.build_pending = build_while_another_starts  # type: ignore[method-assign]
    reported: list[tuple[Step, BaseException | None]] = []
    with pytest.raises(RotationInProgressError, match="started at the same time"):
        LocalDriver(rotator.handle).rotate(arn, on_step=lambda s, e: reported.append((s, e)))
    assert [step for step, _ in reported] == [Step.CREATE]
    assert rotator.target.changes == []
    assert [v for v, ls in labels(arn).items() if v != rival] == [
        moto_backend().secrets[arn].default_version_id
    ]
    moto_backend().secrets[arn].versions[rival]["version_stages"] = []


def foreign_create(rotator: MemoryRotator, after_create: Any) -> Any:
    """A handler whose createSecret is followed by `after_create(token)` (what a racing
    writer, or a handler without smrotate's claim, may leave)."""

    def handler(event: Any, context: Any) -> None:
        rotator.handle(event, context)
        if event["Step"] == "createSecret":
            after_create(event["ClientRequestToken"])

    return handler


def test_the_driver_backs_off_when_two_versions_hold_pending_after_create(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator
) -> None:
    """moto lets AWSPENDING sit on two versions: the driver removes it from its own version
    only, and never runs setSecret."""
    arn = make_secret(USER)
    rival = new_token()
    handler = foreign_create(rotator, lambda token: rival_version(arn, rival, ["AWSPENDING"]))
    with pytest.raises(RotationInProgressError, match=f"version {rival} .* holds AWSPENDING too"):
        LocalDriver(handler).rotate(arn)
    found = labels(arn)
    assert found[rival] == ["AWSPENDING"]
    assert [ls for v, ls in found.items() if v != rival] == [["AWSCURRENT"]]
    assert rotator.target.changes == []
    moto_backend().secrets[arn].versions[rival]["version_stages"] = []


def test_the_driver_stops_when_another_version_took_pending_after_create(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator
) -> None:
    """What AWS's PutSecretValue with AWSPENDING does to a rotation that already stored its
    value: the label moves to the other version, and this rotation must not go on."""
    arn = make_secret(USER)
    rival = new_token()

    def taken(token: str) -> None:
        moto_backend().secrets[arn].versions[token]["version_stages"] = []
        rival_version(arn, rival, ["AWSPENDING"])

    with pytest.raises(RotationInProgressError, match="another rotation took the secret"):
        LocalDriver(foreign_create(rotator, taken)).rotate(arn)
    assert rotator.target.changes == []
    moto_backend().secrets[arn].versions[rival]["version_stages"] = []
