"""Capabilities are declared by the hooks a rotator implements and checked at createSecret,
before anything is stored: a rotation the rotator cannot finish never leaves AWSPENDING."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import pytest
from conftest import MakeSecret, labels, moto_backend
from helpers import new_token, step_event

from smrotate.accounts import Account
from smrotate.errors import ConfigurationError, LoginRefusedError, SecretFormatError
from smrotate.password_rotator import PasswordRotator
from smrotate.rotators.mysql import MySQLRotator
from smrotate.rotators.postgresql import PostgreSQLRotator

USERS: dict[str, str] = {}


class OwnPasswordOnly(PasswordRotator[Account, str]):
    """The two required hooks and nothing else."""

    @contextmanager
    def login(self, account: Account) -> Iterator[str]:
        if USERS.get(account.username) != account.password:
            raise LoginRefusedError("refused")
        yield account.username

    def set_own_password(self, session: str, account: Account, password: str) -> None:
        USERS[session] = password


class WithAdmin(OwnPasswordOnly):
    def set_password(self, admin: str, username: str, password: str) -> None:
        USERS[username] = password


class WithClones(WithAdmin):
    def sync_clone(self, admin: str, base: str, clone: str, password: str) -> bool:
        USERS.setdefault(clone, password)
        return True


class Narrowed(WithClones):
    strategies: ClassVar[tuple[str, ...]] = ("single-user", "alternating-users")


class WithDualPasswords(OwnPasswordOnly):
    def add_password(self, session: str, account: Account, password: str) -> bool:
        USERS[session] = password
        return True


def test_the_strategies_offered_follow_the_hooks_implemented() -> None:
    own = ("single-user", "alternating-pair")  # the two required hooks are enough for both
    assert OwnPasswordOnly.strategies == own
    assert WithAdmin.strategies == ("single-user", "single-user-via-admin", "alternating-pair")
    assert WithClones.strategies == (
        "single-user",
        "single-user-via-admin",
        "alternating-users",
        "alternating-pair",
    )
    assert WithDualPasswords.strategies == (*own, "dual-password")
    assert Narrowed.strategies == ("single-user", "alternating-users")
    assert PostgreSQLRotator.strategies == WithClones.strategies
    assert MySQLRotator.strategies == (*WithClones.strategies, "dual-password")


def versions(arn: str) -> dict[str, list[str]]:
    return labels(moto_backend().secrets[arn].name)


def stored_versions(arn: str) -> int:
    return len(moto_backend().secrets[arn].versions)


@pytest.mark.parametrize(
    ("cls", "strategy", "missing"),
    [
        (OwnPasswordOnly, "alternating-users", "set_password and sync_clone"),
        (OwnPasswordOnly, "single-user-via-admin", "set_password"),
        (WithAdmin, "alternating-users", "sync_clone"),
        (WithClones, "dual-password", "add_password"),
    ],
)
def test_create_secret_refuses_a_strategy_the_rotator_cannot_do_before_storing_anything(
    sm: Any,
    make_secret: MakeSecret,
    cls: type[PasswordRotator[Any, Any]],
    strategy: str,
    missing: str,
) -> None:
    USERS["app"] = "app-password-1"
    arn = make_secret({"username": "app", "password": "app-password-1", "masterarn": "x"})
    before = (versions(arn), stored_versions(arn))
    rotator = cls(env={"ROTATION_STRATEGY": strategy})
    with pytest.raises(ConfigurationError) as caught:
        rotator.handle(step_event("createSecret", arn, new_token()))
    assert f"does not implement {missing}" in str(caught.value)
    assert (versions(arn), stored_versions(arn)) == before  # nothing stored, nothing labelled


@pytest.mark.parametrize("strategy", ["single-user-via-admin", "alternating-users"])
def test_create_secret_refuses_an_admin_strategy_without_masterarn(
    sm: Any, make_secret: MakeSecret, strategy: str
) -> None:
    USERS["app"] = "app-password-1"
    arn = make_secret({"username": "app", "password": "app-password-1"})
    before = stored_versions(arn)
    with pytest.raises(SecretFormatError, match="needs 'masterarn'"):
        WithClones(env={"ROTATION_STRATEGY": strategy}).handle(
            step_event("createSecret", arn, new_token())
        )
    assert stored_versions(arn) == before


class NoDriver(PostgreSQLRotator):
    driver_module: ClassVar[str] = "smrotate_no_such_driver"


def test_create_secret_refuses_a_missing_driver_extra_naming_it(
    sm: Any, make_secret: MakeSecret
) -> None:
    secret = {"engine": "postgres", "host": "db.example", "username": "a", "password": "p" * 12}
    arn = make_secret(secret)
    before = stored_versions(arn)
    with pytest.raises(ConfigurationError, match=r"pip install 'smrotate\[postgres\]'"):
        NoDriver(env={}).handle(step_event("createSecret", arn, new_token()))
    assert stored_versions(arn) == before
