"""The engine's confused-deputy guards, written as attacks on an in-memory target.

The attacker can write the rotated secret and controls one ordinary user; it does not hold the
admin secret. Each test checks what the target holds afterwards (passwords, users), not only
that the rotation failed. The database rotators' versions of these attacks, on the real
servers, are in test_pg_attacks.py and test_mysql_attacks.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import MakeSecret
from memory import MemoryRotator, MemoryTarget

from smrotate.errors import RotationStateError, SecretFormatError
from smrotate.operator.driver import LocalDriver

ADMIN = {"username": "admin", "password": "admin-password-1"}
VIA_ADMIN = {"ROTATION_STRATEGY": "single-user-via-admin"}
ALTERNATING = {"ROTATION_STRATEGY": "alternating-users"}
ADMIN_STRATEGIES = [VIA_ADMIN, ALTERNATING]


def target_with_admin(make_secret: MakeSecret, **passwords: str) -> tuple[MemoryTarget, str]:
    target = MemoryTarget(passwords={"admin": ADMIN["password"], **passwords})
    target.admins.add("admin")
    return target, make_secret(ADMIN, name="admin/master", rotation=False)


def rotate(rotator: MemoryRotator, arn: str) -> Any:
    return LocalDriver(rotator.handle).rotate(arn)


@pytest.mark.parametrize("env", ADMIN_STRATEGIES, ids=["via-admin", "alternating"])
def test_the_admin_never_changes_its_own_user_for_a_secret_that_knows_its_password(
    sm: Any, make_secret: MakeSecret, env: dict[str, str]
) -> None:
    """The attacker learnt nothing but writes {username: admin, password: <its guess>}: even a
    right guess must not make the admin reset (or clone) itself for another secret."""
    target, master = target_with_admin(make_secret)
    arn = make_secret({**ADMIN, "masterarn": master})
    result = rotate(MemoryRotator(target, env=env), arn)
    assert not result.ok
    assert isinstance(result.error, RotationStateError)
    assert "admin secret's own user" in str(result.error)
    assert target.passwords == {"admin": ADMIN["password"]}  # no reset, no clone


@pytest.mark.parametrize("env", ADMIN_STRATEGIES, ids=["via-admin", "alternating"])
def test_an_account_with_admin_rights_is_refused_unless_named(
    sm: Any, make_secret: MakeSecret, env: dict[str, str]
) -> None:
    target, master = target_with_admin(make_secret, ops="ops-password-1")
    target.admins.add("ops")
    arn = make_secret({"username": "ops", "password": "ops-password-1", "masterarn": master})
    result = rotate(MemoryRotator(target, env=env), arn)
    assert not result.ok
    assert "admin-level rights" in str(result.error)
    assert target.passwords["ops"] == "ops-password-1"
    assert "ops_clone" not in target.passwords

    allowed = MemoryRotator(target, env={**env, "ROTATION_ALLOW_PRIVILEGED": "ops"})
    assert LocalDriver(allowed.handle).rotate(arn, token=result.token).ok


def test_a_clone_the_attacker_made_is_never_adopted(sm: Any, make_secret: MakeSecret) -> None:
    """The attacker (able to create users) made `victim_clone` and writes a secret naming it:
    the admin would then set the victim's password into the attacker's secret."""
    target, master = target_with_admin(
        make_secret, victim="victim-password-1", victim_clone="attacker-knows-1"
    )
    arn = make_secret(
        {"username": "victim_clone", "password": "attacker-knows-1", "masterarn": master}
    )
    result = rotate(MemoryRotator(target, env=ALTERNATING), arn)
    assert not result.ok
    assert "did not create it as the clone" in str(result.error)
    assert target.passwords["victim"] == "victim-password-1"


def test_a_clone_marked_for_another_base_is_refused(sm: Any, make_secret: MakeSecret) -> None:
    target, master = target_with_admin(
        make_secret, victim="victim-password-1", victim_clone="clone-password-1"
    )
    target.clone_marks["victim_clone"] = "someone_else"
    arn = make_secret({"username": "victim", "password": "victim-password-1", "masterarn": master})
    result = rotate(MemoryRotator(target, env=ALTERNATING), arn)
    assert not result.ok
    assert target.passwords["victim_clone"] == "clone-password-1"


@pytest.mark.parametrize("env", ADMIN_STRATEGIES, ids=["via-admin", "alternating"])
def test_the_admin_acts_only_where_the_secret_logged_in(
    sm: Any, make_secret: MakeSecret, env: dict[str, str]
) -> None:
    """The secret names another target (the attacker's own) where its user logs in."""
    target, _ = target_with_admin(make_secret, victim="victim-password-1")
    admin_arn = make_secret(
        {**ADMIN, "host": "db.internal", "port": 5432}, name="admin/hosted", rotation=False
    )
    target.passwords["victim"] = "victim-password-1"
    arn = make_secret(
        {
            "username": "victim",
            "password": "victim-password-1",
            "host": "evil.example",
            "port": 5432,
            "masterarn": admin_arn,
        }
    )
    result = rotate(MemoryRotator(target, env=env), arn)
    assert not result.ok
    assert "different targets" in str(result.error)
    assert target.passwords["victim"] == "victim-password-1"
    assert target.changes == []


def test_masterarn_must_be_the_functions_admin_secret(sm: Any, make_secret: MakeSecret) -> None:
    target, master = target_with_admin(make_secret, app="app-password-1")
    other = make_secret(ADMIN, name="admin/other", rotation=False)
    arn = make_secret({"username": "app", "password": "app-password-1", "masterarn": other})
    env = {**VIA_ADMIN, "ADMIN_SECRET_ARN": master}
    result = rotate(MemoryRotator(target, env=env), arn)
    assert isinstance(result.error, SecretFormatError)
    assert "ADMIN_SECRET_ARN" in str(result.error)
    assert target.passwords["app"] == "app-password-1"
    # the same secret named by its name instead of its ARN is accepted
    good = make_secret({"username": "app", "password": "app-password-1", "masterarn": master})
    assert rotate(MemoryRotator(target, env=env), good).ok


def test_masterarn_naming_the_secret_itself_by_a_partial_arn_is_refused(
    sm: Any, make_secret: MakeSecret
) -> None:
    target, _ = target_with_admin(make_secret, app="app-password-1")
    arn = make_secret({"username": "app", "password": "app-password-1", "masterarn": "x"})
    partial = arn.rsplit("-", 1)[0]  # the ARN without its 6-character suffix
    value = {"username": "app", "password": "app-password-1", "masterarn": partial}
    sm.put_secret_value(SecretId=arn, SecretString=json.dumps(value))
    result = rotate(MemoryRotator(target, env=VIA_ADMIN), arn)
    assert not result.ok
    assert "itself" in str(result.error)
    assert target.passwords["app"] == "app-password-1"
