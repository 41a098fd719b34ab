"""The MySQL rotator's dual-password strategy (and single-user, its own-password statement) under
the conformance kit, against an emulation of MySQL 8's account statements
(tests/mysql8_emulation.py). MySQL 8 cannot run on these machines: these runs check the SQL the
rotator generates and the strategy around it, against MySQL's documented behaviour, not a MySQL
server. MariaDB, which the suite does run, refuses dual passwords
(test_zero_downtime_strategies.py)."""

from __future__ import annotations

import secrets
from typing import Any

import pymysql
import pytest
from conftest import MakeSecret
from helpers import rotate, value
from mysql8_emulation import RETAIN, Account, Cursor, MySQL8

from smrotate.errors import TargetError
from smrotate.events import Step
from smrotate.operator.driver import LocalDriver
from smrotate.rotators.mysql import MySQLRotator
from smrotate.store import Secret
from smrotate.testing.kit import ConformanceSuite, Subject

DUAL = {"ROTATION_STRATEGY": "dual-password"}


@pytest.fixture
def mysql8(monkeypatch: pytest.MonkeyPatch) -> MySQL8:
    """An emulated MySQL 8.0.36 behind pymysql.connect, for this test."""
    server = MySQL8()
    monkeypatch.setattr(pymysql, "connect", server.connect)
    return server


def account(server: MySQL8, name: str, **options: Any) -> Secret:
    password = "Pw1!" + secrets.token_urlsafe(18)
    server.accounts[name] = Account(password, **options)
    return {
        "engine": "mysql",
        "host": "mysql8.invalid",
        "port": 3306,
        "username": name,
        "password": password,
        "ssl": False,  # the emulation has no TLS; the real servers' tests check it
    }


def emulated_subject(server: MySQL8, strategy: str) -> Subject:
    return Subject(
        name=f"mysql 8 (emulated) {strategy}",
        rotator=lambda env: MySQLRotator(env=env),
        make_secret=lambda world: account(server, world.unique_name("kit")),
        logs_in=lambda s: server.logs_in(s["username"], s["password"]),
        strategy=strategy,
        write_points=((Cursor, "execute"),),
        race_in_processes=False,  # the emulation lives in the test process
    )


class TestMySQL8DualPassword(ConformanceSuite):
    @pytest.fixture
    def subject(self, mysql8: MySQL8) -> Subject:
        return emulated_subject(mysql8, "dual-password")


class TestMySQL8SingleUser(ConformanceSuite):
    @pytest.fixture
    def subject(self, mysql8: MySQL8) -> Subject:
        return emulated_subject(mysql8, "single-user")


def test_each_rotation_adds_one_password_as_the_user_and_keeps_the_current_one(
    sm: Any, make_secret: MakeSecret, mysql8: MySQL8
) -> None:
    original = account(mysql8, "app")
    arn = make_secret(original)
    rotate(arn, MySQLRotator(env=DUAL))
    first = value(sm, arn)
    assert (mysql8.accounts["app"].primary, mysql8.accounts["app"].secondary) == (
        first["password"],
        original["password"],
    )
    rotate(arn, MySQLRotator(env=DUAL))
    second = value(sm, arn)
    assert (mysql8.accounts["app"].primary, mysql8.accounts["app"].secondary) == (
        second["password"],
        first["password"],
    )
    assert not mysql8.logs_in("app", original["password"])  # two rotations ago: pushed out
    changes = [(user, q) for user, q in mysql8.statements if q.startswith("ALTER USER")]
    assert changes == [("app", RETAIN), ("app", RETAIN)]


def test_without_application_password_admin_the_error_says_which_privilege(
    sm: Any, make_secret: MakeSecret, mysql8: MySQL8
) -> None:
    original = account(mysql8, "app", application_password_admin=False)
    arn = make_secret(original)
    result = LocalDriver(MySQLRotator(env=DUAL).handle).rotate(arn)
    assert result.failed_step is Step.SET
    assert isinstance(result.error, TargetError)
    assert "APPLICATION_PASSWORD_ADMIN" in str(result.error)
    assert original["password"] not in str(result.error)
    assert mysql8.accounts["app"] == Account(original["password"], None, False)
    assert value(sm, arn) == original


def test_the_emulation_refuses_what_it_does_not_emulate() -> None:
    """The emulation refuses a statement it does not know, so untested SQL cannot pass."""
    server = MySQL8()
    server.accounts["app"] = Account("Pw1!x")
    conn = server.connect(user="app", password=b"Pw1!x")
    with pytest.raises(pymysql.err.ProgrammingError), conn.cursor() as cursor:
        cursor.execute("SET PASSWORD = %s", ("Pw1!y",))
    with pytest.raises(pymysql.err.OperationalError):
        server.connect(user="app", password=b"wrong")
