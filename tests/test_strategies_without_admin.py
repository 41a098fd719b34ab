"""alternating-pair and dual-password on an in-memory target: what changes, what keeps working,
and the errors that say what to do (the kit covers crashes, retries, races and cleanup)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import MakeSecret, moto_backend
from helpers import new_token, step_event
from memory import MemoryRotator, MemoryTarget

from smrotate.errors import ConfigurationError, LoginRefusedError, SecretFormatError
from smrotate.events import Step
from smrotate.operator.cleanup import cancel
from smrotate.operator.driver import LocalDriver
from smrotate.password_rotator import PasswordRotator
from smrotate.rotators.mysql import MySQLRotator

A = {"username": "app_a", "password": "a-password-1"}
B = {"username": "app_b", "password": "b-password-1"}


def value_at(sm: Any, arn: str, stage: str) -> dict[str, Any]:
    raw = sm.get_secret_value(SecretId=arn, VersionStage=stage)["SecretString"]
    return dict(json.loads(raw))


def pair_secret(sm: Any, make_secret: MakeSecret, first: dict[str, Any] = A) -> str:
    """B's credentials first, then A's: B holds AWSPREVIOUS, as docs/strategies.md says."""
    arn = make_secret(B)
    sm.put_secret_value(SecretId=arn, SecretString=json.dumps(first))
    return arn


def pair() -> tuple[MemoryTarget, MemoryRotator]:
    target = MemoryTarget(passwords={A["username"]: A["password"], B["username"]: B["password"]})
    return target, MemoryRotator(target, env={"ROTATION_STRATEGY": "alternating-pair"})


# ---------------------------------------------------------------- alternating-pair


def test_the_pair_takes_turns_and_each_user_sets_only_its_own_password(
    sm: Any, make_secret: MakeSecret
) -> None:
    target, rotator = pair()
    arn = pair_secret(sm, make_secret)
    driver = LocalDriver(rotator.handle)
    seen = []
    for _ in range(3):
        result = driver.rotate(arn)
        assert result.ok, result.error
        current, previous = value_at(sm, arn, "AWSCURRENT"), value_at(sm, arn, "AWSPREVIOUS")
        seen.append(current["username"])
        assert current["username"] != previous["username"]
        assert target.check(current["username"], current["password"])
        assert target.check(previous["username"], previous["password"])  # until the next one
    assert seen == ["app_b", "app_a", "app_b"]
    # Every change was the user's own, made in its own session: no admin, nothing else.
    assert target.changes == [("own", "app_b"), ("own", "app_a"), ("own", "app_b")]


@pytest.mark.parametrize(
    ("previous", "found"),
    [
        (None, "has no AWSPREVIOUS"),
        ({**A, "password": "older-a-password-1"}, "AWSPREVIOUS naming user 'app_a'"),
        ({**B, "host": "elsewhere.example", "port": 5432}, "AWSPREVIOUS naming user 'app_b' at"),
    ],
    ids=["only one version", "previous is the same user", "previous at another host"],
)
def test_a_secret_that_knows_one_user_is_refused_before_anything_is_stored(
    sm: Any, make_secret: MakeSecret, previous: dict[str, Any] | None, found: str
) -> None:
    target, rotator = pair()
    if previous is None:
        arn = make_secret(A)
    else:
        arn = make_secret(previous)
        sm.put_secret_value(SecretId=arn, SecretString=json.dumps(A))
    versions = len(moto_backend().secrets[arn].versions)
    with pytest.raises(SecretFormatError) as caught:
        rotator.handle(step_event(Step.CREATE, arn, new_token()))
    message = str(caught.value)
    assert found in message
    assert "put-secret-value" in message
    assert "docs/strategies.md#alternating-pair" in message
    assert "password-1" not in message
    assert len(moto_backend().secrets[arn].versions) == versions  # nothing stored
    assert target.logins == []
    assert target.changes == []


def test_the_pair_resumes_after_the_inactive_user_already_changed_its_password(
    sm: Any, make_secret: MakeSecret
) -> None:
    target, rotator = pair()
    arn = pair_secret(sm, make_secret)
    token = new_token()
    for step in (Step.CREATE, Step.SET):
        rotator.handle(step_event(step, arn, token))
    changes = list(target.changes)
    rotator.handle(step_event(Step.SET, arn, token))  # a retried setSecret
    assert target.changes == changes  # AWSPREVIOUS is refused now, AWSPENDING logs in: done
    for step in (Step.TEST, Step.FINISH):
        rotator.handle(step_event(step, arn, token))
    assert value_at(sm, arn, "AWSCURRENT")["username"] == "app_b"


def test_the_pair_says_what_to_do_when_neither_previous_nor_pending_logs_in(
    sm: Any, make_secret: MakeSecret
) -> None:
    target, rotator = pair()
    arn = pair_secret(sm, make_secret)
    target.passwords["app_b"] = "changed-by-hand-1"
    result = LocalDriver(rotator.handle).rotate(arn)
    assert result.failed_step is Step.SET
    assert isinstance(result.error, LoginRefusedError)
    assert "set its password by hand to the AWSPREVIOUS value" in str(result.error)
    assert value_at(sm, arn, "AWSCURRENT") == A  # AWSCURRENT untouched, still working
    assert target.check(A["username"], A["password"])


def test_cleanup_gives_the_inactive_user_its_previous_password_back(
    sm: Any, make_secret: MakeSecret
) -> None:
    target, rotator = pair()
    arn = pair_secret(sm, make_secret)
    LocalDriver(rotator.handle).rotate(arn, steps=(Step.CREATE, Step.SET))
    assert not target.check(B["username"], B["password"])  # setSecret changed it
    report = cancel(rotator.store, arn, cleanup=True, dry_run=False, rotator=rotator)
    assert report.retired
    assert target.check(B["username"], B["password"])  # AWSPREVIOUS works again
    from smrotate.testing.aws import enable_rotation

    enable_rotation(arn)
    assert LocalDriver(rotator.handle).rotate(arn).ok


# ---------------------------------------------------------------- dual-password


def dual() -> tuple[MemoryTarget, MemoryRotator]:
    target = MemoryTarget(passwords={A["username"]: A["password"]})
    return target, MemoryRotator(target, env={"ROTATION_STRATEGY": "dual-password"})


def test_dual_password_keeps_the_current_password_until_the_next_rotation(
    sm: Any, make_secret: MakeSecret
) -> None:
    target, rotator = dual()
    arn = make_secret(A)
    token = new_token()
    for step in (Step.CREATE, Step.SET):
        rotator.handle(step_event(step, arn, token))
    pending = json.loads(sm.get_secret_value(SecretId=arn, VersionId=token)["SecretString"])
    assert target.check("app_a", A["password"])
    assert target.check("app_a", pending["password"])
    for step in (Step.TEST, Step.FINISH):
        rotator.handle(step_event(step, arn, token))
    assert target.check("app_a", A["password"])  # AWSPREVIOUS still logs in
    assert LocalDriver(rotator.handle).rotate(arn).ok
    assert not target.check("app_a", A["password"])  # pushed out by the next rotation
    assert target.check("app_a", pending["password"])
    assert [kind for kind, _ in target.changes] == ["add", "add"]


def test_a_retried_set_secret_never_pushes_the_current_password_out(
    sm: Any, make_secret: MakeSecret
) -> None:
    """After the password was added, AWSCURRENT still logs in (as the older password): a retry
    must not add the new password a second time, which would drop AWSCURRENT's."""
    target, rotator = dual()
    arn = make_secret(A)
    token = new_token()
    for step in (Step.CREATE, Step.SET, Step.SET):
        rotator.handle(step_event(step, arn, token))
    assert target.check("app_a", A["password"])
    assert [kind for kind, _ in target.changes] == ["add"]


def test_dual_password_says_what_to_do_when_the_password_changed_elsewhere(
    sm: Any, make_secret: MakeSecret
) -> None:
    target, rotator = dual()
    arn = make_secret(A)
    target.secondary["app_a"] = A["password"]  # the current one still logs in, but is older
    target.passwords["app_a"] = "set-by-hand-1"
    result = LocalDriver(rotator.handle).rotate(arn)
    assert isinstance(result.error, LoginRefusedError)
    assert "changed outside this rotation" in str(result.error)
    assert target.changes == []
    assert value_at(sm, arn, "AWSCURRENT") == A


def test_cleanup_drops_a_discarded_dual_password(sm: Any, make_secret: MakeSecret) -> None:
    target, rotator = dual()
    arn = make_secret(A)
    result = LocalDriver(rotator.handle).rotate(arn, steps=(Step.CREATE, Step.SET))
    discarded = json.loads(
        sm.get_secret_value(SecretId=arn, VersionId=result.token)["SecretString"]
    )
    report = cancel(rotator.store, arn, cleanup=True, dry_run=False, rotator=rotator)
    assert report.retired
    assert not target.check("app_a", discarded["password"])
    assert target.check("app_a", A["password"])


def test_a_rotator_without_add_password_does_not_offer_dual_password(
    sm: Any, make_secret: MakeSecret
) -> None:
    class OwnOnly(MemoryRotator):
        add_password = PasswordRotator.add_password

    rotator = OwnOnly(MemoryTarget(), env={"ROTATION_STRATEGY": "dual-password"})
    with pytest.raises(ConfigurationError, match="does not implement add_password"):
        rotator.handle(step_event(Step.CREATE, make_secret(A), new_token()))


def test_dual_password_on_a_mariadb_secret_is_refused_before_anything_is_stored(
    sm: Any, make_secret: MakeSecret
) -> None:
    secret = {**A, "engine": "mariadb", "host": "db.example", "port": 3306}
    arn = make_secret(secret)
    rotator = MySQLRotator(env={"ROTATION_STRATEGY": "dual-password"})
    with pytest.raises(ConfigurationError) as caught:
        rotator.handle(step_event(Step.CREATE, arn, new_token()))
    assert "MariaDB keeps one password per account" in str(caught.value)
    assert "alternating-pair" in str(caught.value)
    assert len(moto_backend().secrets[arn].versions) == 1
