"""One parse: each secret version becomes one frozen account the first time a step reads it,
and every later use in that step takes the same object. The hook surface is two required
hooks; the admin strategies appear only with the optional ones."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import pytest
from conftest import MakeSecret
from helpers import new_token, step_event
from memory import MemoryRotator, MemoryTarget

from smrotate.accounts import PLAIN, Account, Credentials
from smrotate.database import Database, DatabaseAccount
from smrotate.password_rotator import PasswordRotator
from smrotate.rotators.mysql import MySQLRotator
from smrotate.rotators.postgresql import PostgreSQLRotator
from smrotate.store import Secret, SecretDescription

ADMIN = {"username": "admin", "password": "admin-password-1"}
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")


class CountingSchema(Credentials):
    """The plain schema, counting each parse by the label it was given."""

    seen: ClassVar[Counter[str]] = Counter()

    def parse(self, value: Secret, label: str, env: Mapping[str, str]) -> Account:
        CountingSchema.seen[label] += 1
        return super().parse(value, label, env)

    def complete_admin(
        self, value: Secret, arn: str, describe: Callable[[str], SecretDescription]
    ) -> Secret:
        return value


class Counted(MemoryRotator):
    schema = CountingSchema()


@pytest.mark.parametrize("strategy", ["single-user", "single-user-via-admin", "alternating-users"])
def test_each_version_is_parsed_once_per_step(
    sm: Any, make_secret: MakeSecret, strategy: str
) -> None:
    target = MemoryTarget(passwords={"app": "app-password-1", "admin": ADMIN["password"]})
    target.admins.add("admin")
    admin = make_secret(ADMIN, name="admin/master", rotation=False)
    arn = make_secret({"username": "app", "password": "app-password-1", "masterarn": admin})
    rotator, token = Counted(target, env={"ROTATION_STRATEGY": strategy}), new_token()
    for step in STEPS:
        CountingSchema.seen.clear()
        rotator.handle(step_event(step, arn, token))
        assert bool(CountingSchema.seen) == (step != "finishSecret"), step  # finish reads none
        assert max(CountingSchema.seen.values(), default=1) == 1, (step, CountingSchema.seen)
    current = rotator.store.read(arn, stage="AWSCURRENT")
    assert target.check(current["username"], current["password"])  # the rotation finished


def test_accounts_are_frozen_and_never_show_the_password() -> None:
    account = PLAIN.parse({"username": "app", "password": "s3cret-value"}, "the value", {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        account.password = "other"  # type: ignore[misc]
    assert "s3cret-value" not in repr(account)
    pg = PostgreSQLRotator(env={}).parse_secret(
        {"host": "db.example", "username": "app", "password": "s3cret-value"}, "the value"
    )
    assert isinstance(pg, DatabaseAccount)
    assert (pg.port, pg.dbname, pg.tls.enabled) == (5432, "postgres", True)
    assert "s3cret-value" not in repr(pg)


def test_the_user_name_limit_has_one_source_per_engine() -> None:
    """The schema's table, replaced by USERNAME_CHARACTER_LIMIT where it is set."""
    secret = {"host": "db", "username": "app", "password": "p" * 12}
    mysql, pg = MySQLRotator.schema, PostgreSQLRotator.schema
    assert isinstance(mysql, Database)
    assert isinstance(pg, Database)
    assert mysql.parse({**secret, "engine": "mariadb"}, "v", {}).username_limit == 80
    assert mysql.parse({**secret, "engine": "mysql"}, "v", {}).username_limit == 32
    assert pg.parse(secret, "v", {}).username_limit == 63
    limited = pg.parse(secret, "v", {"USERNAME_CHARACTER_LIMIT": "20"})
    assert limited.username_limit == 20


def test_two_required_hooks_and_the_admin_strategies_follow_the_optional_ones() -> None:
    assert PasswordRotator.__abstractmethods__ == {"login", "set_own_password"}

    class Minimal(PasswordRotator[Account, str]):
        def login(self, account: Account) -> Any:
            raise NotImplementedError

        def set_own_password(self, session: str, account: Account, password: str) -> None:
            raise NotImplementedError

    assert Minimal.strategies == ("single-user", "alternating-pair")
    assert MemoryRotator.strategies == (
        "single-user",
        "single-user-via-admin",
        "alternating-users",
        "alternating-pair",
        "dual-password",
    )
