"""alternating-pair on the suite's PostgreSQL and MariaDB, and dual-password refused by
MariaDB: checked on the servers (who ran which statement, what logs in), with connections that
stay open across rotations, and the attacker who writes the secret's AWSPREVIOUS."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from conftest import MakeSecret
from helpers import rotate, value
from mariadb_fixtures import MakeUser as MakeMariaDBUser
from mariadb_fixtures import rotator as mysql_rotator
from pg_fixtures import PgUser
from pg_helpers import alter_role_lines, log_window
from pg_helpers import rotator as pg_rotator

from smrotate.errors import LoginRefusedError, TargetError
from smrotate.events import Step
from smrotate.operator.driver import LocalDriver
from smrotate.testing.mariadb import MariaDBServer
from smrotate.testing.postgres import PostgresServer

PAIR = {"ROTATION_STRATEGY": "alternating-pair"}


def pair_secret(sm: Any, make_secret: MakeSecret, first: dict[str, Any], second: Any) -> str:
    """The second user's value first, then the first's: the second holds AWSPREVIOUS."""
    arn = make_secret(second)
    sm.put_secret_value(SecretId=arn, SecretString=json.dumps(first))
    return arn


@pytest.mark.postgres
def test_postgresql_pair_takes_turns_without_an_admin_and_open_sessions_survive(
    sm: Any, make_secret: MakeSecret, pg: PostgresServer, pg_user: Callable[..., PgUser]
) -> None:
    a, b = pg_user(), pg_user()
    arn = pair_secret(sm, make_secret, pg.secret(a.name, a.password), pg.secret(b.name, b.password))
    with pg.connect(a.name, a.password) as open_a, pg.connect(b.name, b.password) as open_b:
        for n, (active, inactive) in enumerate([(b, a), (a, b), (b, a)]):
            with log_window(pg) as log:
                rotate(arn, pg_rotator(**PAIR))
            current, previous = value(sm, arn), value(sm, arn, "AWSPREVIOUS")
            assert (current["username"], previous["username"]) == (active.name, inactive.name)
            assert pg.logs_in(current["username"], current["password"])
            assert pg.logs_in(previous["username"], previous["password"]), f"rotation {n + 1}"
            # One password change, made by the user itself in its own session; no superuser.
            changes = alter_role_lines(log, active.name)
            assert len(changes) == 1
            assert f" {active.name}@postgres " in changes[0]
            assert alter_role_lines(log, inactive.name) == []
            assert log.lines(f"{pg.admin_user}@") == []
            for session in (open_a, open_b):
                assert session.execute("SELECT 1").fetchone() == (1,)  # still open, still usable


@pytest.mark.postgres
def test_postgresql_pair_never_acts_on_a_user_the_secret_cannot_log_in_as(
    sm: Any, make_secret: MakeSecret, pg: PostgresServer, pg_user: Callable[..., PgUser]
) -> None:
    """The attacker writes AWSPREVIOUS naming the superuser (it does not know the password)."""
    a = pg_user()
    victim = pg.secret(pg.admin_user, "guessed-password-1")
    arn = pair_secret(sm, make_secret, pg.secret(a.name, a.password), victim)
    with log_window(pg) as log:
        result = LocalDriver(pg_rotator(**PAIR).handle).rotate(arn)
    assert result.failed_step is Step.SET
    assert isinstance(result.error, LoginRefusedError)
    assert pg.logs_in(pg.admin_user, pg.admin_password)  # the superuser's password is unchanged
    assert pg.logs_in(a.name, a.password)  # AWSCURRENT still works
    assert value(sm, arn) == pg.secret(a.name, a.password)
    assert log.lines("statement: ALTER ROLE") == []


@pytest.mark.postgres
def test_postgresql_pair_refuses_a_previous_version_at_another_server(
    sm: Any, make_secret: MakeSecret, pg: PostgresServer, pg_user: Callable[..., PgUser]
) -> None:
    """AWSPREVIOUS pointing elsewhere (the attacker's server, to collect a password) is refused
    at createSecret, before anything is stored or any login is tried."""
    a, b = pg_user(), pg_user()
    elsewhere = {**pg.secret(b.name, b.password), "host": "localhost.localdomain.invalid"}
    arn = pair_secret(sm, make_secret, pg.secret(a.name, a.password), elsewhere)
    with log_window(pg) as log:
        result = LocalDriver(pg_rotator(**PAIR).handle).rotate(arn)
    assert result.failed_step is Step.CREATE
    assert "AWSPREVIOUS naming user" in str(result.error)
    assert log.lines("connection authorized") == []


@pytest.mark.mariadb
def test_mariadb_pair_takes_turns_and_open_connections_survive(
    sm: Any, make_secret: MakeSecret, mariadb: MariaDBServer, mariadb_user: MakeMariaDBUser
) -> None:
    a, b = mariadb_user(), mariadb_user()
    first, second = mariadb.secret(a.name, a.password), mariadb.secret(b.name, b.password)
    arn = pair_secret(sm, make_secret, first, second)
    with mariadb.connect(a.name, a.password) as open_a:
        for active, inactive in [(b, a), (a, b)]:
            start = len(mariadb.log_text())
            rotate(arn, mysql_rotator(**PAIR))
            log = mariadb.log_text()[start:]
            current, previous = value(sm, arn), value(sm, arn, "AWSPREVIOUS")
            assert (current["username"], previous["username"]) == (active.name, inactive.name)
            assert mariadb.logs_in(current["username"], current["password"])
            assert mariadb.logs_in(previous["username"], previous["password"])
            assert f"{active.name}@" in log
            assert f"{mariadb.admin_user}@" not in log  # no admin session
            with open_a.cursor() as cursor:
                cursor.execute("SELECT 1")
                assert cursor.fetchone() == (1,)


@pytest.mark.mariadb
def test_dual_password_on_mariadb_is_refused_before_any_change(
    sm: Any, make_secret: MakeSecret, mariadb: MariaDBServer, mariadb_user: MakeMariaDBUser
) -> None:
    """A secret saying engine mysql, at a MariaDB server: setSecret reads the server and refuses
    before any statement that changes a password; AWSCURRENT keeps working."""
    user = mariadb_user()
    arn = make_secret({**mariadb.secret(user.name, user.password), "engine": "mysql"})
    start = len(mariadb.log_text())
    result = LocalDriver(mysql_rotator(ROTATION_STRATEGY="dual-password").handle).rotate(arn)
    log = mariadb.log_text()[start:]
    assert result.failed_step is Step.SET
    assert isinstance(result.error, TargetError)
    assert "MariaDB keeps one password per account" in str(result.error)
    assert "ALTER USER" not in log
    assert "SET PASSWORD" not in log
    assert mariadb.logs_in(user.name, user.password)
    assert value(sm, arn)["password"] == user.password
