"""The three strategies on an in-memory target: what changes, what keeps working, the guards."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from conftest import MakeSecret, labels, moto_backend
from helpers import new_token, set_labels, step_event
from memory import MemoryRotator, MemoryTarget

from smrotate.errors import (
    ConfigurationError,
    LoginRefusedError,
    RotationStateError,
    SecretFormatError,
    TargetError,
)
from smrotate.events import Step
from smrotate.operator.driver import LocalDriver

ADMIN = {"username": "admin", "password": "admin-password-1"}


def current_value(sm: Any, arn: str) -> dict[str, Any]:
    return dict(
        json.loads(sm.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")["SecretString"])
    )


def admin_setup(make_secret: MakeSecret, target: MemoryTarget) -> str:
    target.passwords["admin"] = ADMIN["password"]
    target.admins.add("admin")
    return make_secret(ADMIN, name="admin/master", rotation=False)


# ---------------------------------------------------------------- single user


def test_single_user_recovers_through_previous(sm: Any, make_secret: MakeSecret) -> None:
    """AWSCURRENT moved back by hand while the target kept the newer password."""
    target = MemoryTarget(passwords={"app": "first-password-1"})
    rotator = MemoryRotator(target, env={})
    arn = make_secret({"username": "app", "password": "first-password-1"})
    driver = LocalDriver(rotator.handle)
    first = moto_backend().secrets[arn].default_version_id
    second = driver.rotate(arn).token
    name = moto_backend().secrets[arn].name
    set_labels(name, first, ["AWSCURRENT"])  # the operator moves AWSCURRENT back
    set_labels(name, second, ["AWSPREVIOUS"])
    assert not target.check("app", current_value(sm, arn)["password"])
    result = driver.rotate(arn)
    assert result.ok, result.error
    assert target.check("app", current_value(sm, arn)["password"])


def test_single_user_refuses_when_nothing_logs_in(sm: Any, make_secret: MakeSecret) -> None:
    target = MemoryTarget(passwords={"app": "changed-elsewhere-1"})
    rotator = MemoryRotator(target, env={})
    arn = make_secret({"username": "app", "password": "stale-password-1"})
    result = LocalDriver(rotator.handle).rotate(arn)
    assert result.failed_step is Step.SET
    assert isinstance(result.error, LoginRefusedError)
    assert "none of AWSCURRENT, AWSPENDING and AWSPREVIOUS" in str(result.error)
    assert "stale-password-1" not in str(result.error)
    assert current_value(sm, arn)["password"] == "stale-password-1"
    assert target.changes == []


def test_single_user_refuses_a_pending_version_for_another_user(
    sm: Any, make_secret: MakeSecret
) -> None:
    target = MemoryTarget(passwords={"app": "app-password-1", "root": "root-password-1"})
    rotator = MemoryRotator(target, env={})
    arn = make_secret({"username": "app", "password": "app-password-1"})
    token = new_token()
    sm.put_secret_value(
        SecretId=arn,
        ClientRequestToken=token,
        SecretString=json.dumps({"username": "root", "password": "attacker-password-1"}),
        VersionStages=["AWSPENDING"],
    )
    with pytest.raises(RotationStateError, match="names user 'root'"):
        rotator.handle(step_event("setSecret", arn, token))
    assert target.changes == []


def test_single_user_makes_at_most_one_failed_login_per_rotation(
    sm: Any, make_secret: MakeSecret
) -> None:
    target = MemoryTarget(passwords={"app": "app-password-1"})
    rotator = MemoryRotator(target, env={})
    arn = make_secret({"username": "app", "password": "app-password-1"})
    assert LocalDriver(rotator.handle).rotate(arn).ok
    assert len(target.logins) == 2
    assert all(ok for _, ok in target.logins)


# ---------------------------------------------------------------- via admin


def test_via_admin_sets_the_password(sm: Any, make_secret: MakeSecret) -> None:
    target = MemoryTarget(passwords={"app": "app-password-1"})
    master = admin_setup(make_secret, target)
    rotator = MemoryRotator(target, env={"ROTATION_STRATEGY": "single-user-via-admin"})
    arn = make_secret({"username": "app", "password": "app-password-1", "masterarn": master})
    for _ in range(2):
        result = LocalDriver(rotator.handle).rotate(arn)
        assert result.ok, result.error
        assert target.check("app", current_value(sm, arn)["password"])
    assert target.changes == [("admin", "app"), ("admin", "app")]
    assert not target.check("app", "app-password-1")


def test_via_admin_guard_refuses_an_account_the_secret_cannot_prove(
    sm: Any, make_secret: MakeSecret
) -> None:
    target = MemoryTarget(passwords={"app": "real-password-1"})
    master = admin_setup(make_secret, target)
    rotator = MemoryRotator(target, env={"ROTATION_STRATEGY": "single-user-via-admin"})
    arn = make_secret({"username": "app", "password": "guessed-password", "masterarn": master})
    result = LocalDriver(rotator.handle).rotate(arn)
    assert isinstance(result.error, LoginRefusedError)
    assert target.changes == []
    assert ("admin", True) not in target.logins


def test_via_admin_needs_masterarn(sm: Any, make_secret: MakeSecret) -> None:
    target = MemoryTarget(passwords={"app": "app-password-1"})
    rotator = MemoryRotator(target, env={"ROTATION_STRATEGY": "single-user-via-admin"})
    arn = make_secret({"username": "app", "password": "app-password-1"})
    result = LocalDriver(rotator.handle).rotate(arn)
    assert isinstance(result.error, SecretFormatError)
    assert "'masterarn'" in str(result.error)
    assert target.changes == []


def test_masterarn_naming_the_secret_itself_is_refused(sm: Any, make_secret: MakeSecret) -> None:
    target = MemoryTarget(passwords={"app": "app-password-1"})
    rotator = MemoryRotator(target, env={"ROTATION_STRATEGY": "single-user-via-admin"})
    arn = make_secret(
        {"username": "app", "password": "app-password-1", "masterarn": "placeholder"},
        name="app/self",
    )
    sm.put_secret_value(
        SecretId=arn,
        SecretString=json.dumps(
            {"username": "app", "password": "app-password-1", "masterarn": arn}
        ),
        VersionStages=["AWSCURRENT"],
    )
    result = LocalDriver(rotator.handle).rotate(arn)
    assert isinstance(result.error, SecretFormatError)
    assert "separate admin secret" in str(result.error)


def test_admin_without_privilege_fails_with_a_privilege_error(
    sm: Any, make_secret: MakeSecret
) -> None:
    target = MemoryTarget(passwords={"app": "app-password-1", "admin": ADMIN["password"]})
    master = make_secret(ADMIN, name="admin/weak", rotation=False)
    rotator = MemoryRotator(target, env={"ROTATION_STRATEGY": "single-user-via-admin"})
    arn = make_secret({"username": "app", "password": "app-password-1", "masterarn": master})
    result = LocalDriver(rotator.handle).rotate(arn)
    assert isinstance(result.error, TargetError)
    assert str(result.error).startswith("privilege failure")
    assert current_value(sm, arn)["password"] == "app-password-1"


# ---------------------------------------------------------------- alternating users


def test_alternating_users_switch_and_keep_the_previous_user_working(
    sm: Any, make_secret: MakeSecret
) -> None:
    target = MemoryTarget(passwords={"app": "app-password-1"}, rights={"app": {"read:orders"}})
    master = admin_setup(make_secret, target)
    rotator = MemoryRotator(target, env={"ROTATION_STRATEGY": "alternating-users"})
    arn = make_secret({"username": "app", "password": "app-password-1", "masterarn": master})
    driver = LocalDriver(rotator.handle)

    assert driver.rotate(arn).ok
    first = current_value(sm, arn)
    assert first["username"] == "app_clone"
    assert target.check("app_clone", first["password"])
    assert target.check("app", "app-password-1")  # the previous user still logs in
    assert target.rights["app_clone"] == {"read:orders"}

    target.rights["app"].add("write:orders")
    assert driver.rotate(arn).ok
    second = current_value(sm, arn)
    assert second["username"] == "app"
    assert target.check("app", second["password"])
    assert target.check(
        "app_clone", first["password"]
    )  # previous keeps working until next rotation
    assert not target.check("app", "app-password-1")
    assert target.rights["app_clone"] == {"read:orders", "write:orders"}

    assert driver.rotate(arn).ok
    assert current_value(sm, arn)["username"] == "app_clone"
    assert not target.check("app_clone", first["password"])
    assert [c for c in target.changes if c[0] == "create"] == [("create", "app_clone")]


def test_alternating_guard_requires_current_to_log_in(sm: Any, make_secret: MakeSecret) -> None:
    target = MemoryTarget(passwords={"app": "app-password-1"})
    master = admin_setup(make_secret, target)
    rotator = MemoryRotator(target, env={"ROTATION_STRATEGY": "alternating-users"})
    arn = make_secret({"username": "app", "password": "wrong-password-1", "masterarn": master})
    result = LocalDriver(rotator.handle).rotate(arn)
    assert isinstance(result.error, LoginRefusedError)
    assert "confused-deputy guard" in str(result.error)
    assert target.changes == []
    assert [u for u, _ in target.logins] == ["app"]  # the admin never logged in


def test_alternating_set_twice_changes_nothing_twice(sm: Any, make_secret: MakeSecret) -> None:
    target = MemoryTarget(passwords={"app": "app-password-1"})
    master = admin_setup(make_secret, target)
    rotator = MemoryRotator(target, env={"ROTATION_STRATEGY": "alternating-users"})
    arn = make_secret({"username": "app", "password": "app-password-1", "masterarn": master})
    token = new_token()
    rotator.handle(step_event("createSecret", arn, token))
    rotator.handle(step_event("setSecret", arn, token))
    rotator.handle(step_event("setSecret", arn, token))
    assert target.changes == [("create", "app_clone")]


def test_alternating_respects_the_name_limit_and_returns_to_the_full_name(
    sm: Any, make_secret: MakeSecret
) -> None:
    base = "a" * 14 + "_service"  # 22 characters
    target = MemoryTarget(passwords={base: "base-password-1"})
    master = admin_setup(make_secret, target)
    env = {
        "ROTATION_STRATEGY": "alternating-users",
        "USERNAME_CHARACTER_LIMIT": "24",
        "ROTATION_CLONE_SUFFIX": "_b",
    }
    rotator = MemoryRotator(target, env=env)
    arn = make_secret({"username": base, "password": "base-password-1", "masterarn": master})
    driver = LocalDriver(rotator.handle)
    assert driver.rotate(arn).ok
    assert current_value(sm, arn)["username"] == base + "_b"
    env["USERNAME_CHARACTER_LIMIT"] = "16"
    target.passwords["a" * 14 + "_b"] = "x-password-1"  # another user with the truncated name
    assert driver.rotate(arn).ok
    assert current_value(sm, arn)["username"] == base  # back to the full base name


def test_alternating_truncates_long_names(sm: Any, make_secret: MakeSecret) -> None:
    base = "u" * 63
    target = MemoryTarget(passwords={base: "base-password-1"})
    master = admin_setup(make_secret, target)
    rotator = MemoryRotator(target, env={"ROTATION_STRATEGY": "alternating-users"})
    arn = make_secret({"username": base, "password": "base-password-1", "masterarn": master})
    driver = LocalDriver(rotator.handle)
    assert driver.rotate(arn).ok
    clone = current_value(sm, arn)["username"]
    assert clone == "u" * 50 + "_" + hashlib.sha256(base.encode()).hexdigest()[:6] + "_clone"
    assert len(clone) == 63
    assert driver.rotate(arn).ok
    assert current_value(sm, arn)["username"] == base


def test_long_names_sharing_a_prefix_never_share_a_clone(sm: Any, make_secret: MakeSecret) -> None:
    """Two bases equal in their first 57 characters: each gets its own clone (the digest)."""
    first, second = "u" * 60 + "one", "u" * 60 + "two"
    target = MemoryTarget(passwords={first: "first-password-1", second: "second-password-1"})
    master = admin_setup(make_secret, target)
    rotator = MemoryRotator(target, env={"ROTATION_STRATEGY": "alternating-users"})
    clones = []
    for user, password in ((first, "first-password-1"), (second, "second-password-1")):
        arn = make_secret({"username": user, "password": password, "masterarn": master})
        assert LocalDriver(rotator.handle).rotate(arn).ok
        clones.append(current_value(sm, arn)["username"])
    assert clones[0] != clones[1]
    assert all(len(name) == 63 for name in clones)
    assert target.passwords[first] == "first-password-1"  # neither base was reset
    assert target.passwords[second] == "second-password-1"


# ---------------------------------------------------------------- configuration


def test_unknown_strategy_is_a_clear_error_but_finish_still_works(
    sm: Any, make_secret: MakeSecret
) -> None:
    target = MemoryTarget(passwords={"app": "app-password-1"})
    env = {"ROTATION_STRATEGY": "single-user"}
    rotator = MemoryRotator(target, env=env)
    arn = make_secret({"username": "app", "password": "app-password-1"})
    token = new_token()
    rotator.handle(step_event("createSecret", arn, token))
    env["ROTATION_STRATEGY"] = "multi-user"
    with pytest.raises(ConfigurationError, match="ROTATION_STRATEGY must be one of single-user"):
        rotator.handle(step_event("setSecret", arn, token))
    env["ROTATION_STRATEGY"] = "single-user"
    for step in ("setSecret", "testSecret"):
        rotator.handle(step_event(step, arn, token))
    env["ROTATION_STRATEGY"] = "multi-user"
    rotator.handle(step_event("finishSecret", arn, token))
    assert labels(moto_backend().secrets[arn].name)[token] == ["AWSCURRENT"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PASSWORD_LENGTH": "0"}, "PASSWORD_LENGTH must be between 8 and 4096"),
        ({"EXCLUDE_NUMBERS": "maybe"}, "EXCLUDE_NUMBERS must be true or false"),
        ({"PASSWORD_SOURCE": "vault"}, "PASSWORD_SOURCE must be one of local, secretsmanager"),
        (
            {"ROTATION_STRATEGY": "alternating-users", "ROTATION_CLONE_SUFFIX": ""},
            "ROTATION_CLONE_SUFFIX",
        ),
    ],
)
def test_bad_settings_fail_create_and_change_nothing(
    sm: Any, make_secret: MakeSecret, env: dict[str, str], message: str
) -> None:
    target = MemoryTarget(passwords={"app": "app-password-1"})
    rotator = MemoryRotator(target, env=env)
    arn = make_secret({"username": "app", "password": "app-password-1", "masterarn": "x"})
    result = LocalDriver(rotator.handle).rotate(arn)
    assert isinstance(result.error, ConfigurationError)
    assert message in str(result.error)
    assert result.failed_step is Step.CREATE
    assert len(labels(moto_backend().secrets[arn].name)) == 1
