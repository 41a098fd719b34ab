"""The suite's private MariaDB server: passwords over TLS, started once per run.

`mariadb` offers TLS without requiring it, so the `"ssl": false` tests can run; accounts that
must use TLS say REQUIRE SSL. `mariadb_user` makes a fresh user with a random password (on
host `%` unless told) and drops it, its clones included, after the test.
`mariadb_admin_secret` stores the server's admin as a secret for `masterarn`. The helpers
below build rotators from an explicit environment and read secret values by label.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pymysql.cursors
import pytest
from helpers import new_password
from shared import started

from smrotate.rotators.mysql import MySQLRotator
from smrotate.testing.mariadb import MariaDBServer, MariaDBSetupError
from smrotate.testing.tls import Pki


@pytest.fixture(scope="session")
def mariadb(pki: Pki) -> Iterator[MariaDBServer]:
    """The suite's MariaDB: password accounts over TCP, TLS from the suite's CA."""
    try:
        server = started(MariaDBServer.start(pki))
    except MariaDBSetupError as exc:
        pytest.fail(f"the suite's MariaDB server did not start: {exc}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mariadb_elsewhere(pki: Pki) -> Iterator[MariaDBServer]:
    """A second private MariaDB with a certificate from the same CA: the attacker's own server
    in the attack tests."""
    try:
        server = started(MariaDBServer.start(pki))
    except MariaDBSetupError as exc:
        pytest.fail(f"the second MariaDB server did not start: {exc}", pytrace=False)
    yield server
    server.stop()


@dataclass(frozen=True)
class MariaDBUser:
    """A user on the suite's server and its current password."""

    name: str
    password: str


_names = iter(range(1_000_000))


MakeUser = Callable[..., MariaDBUser]


@pytest.fixture
def mariadb_user(mariadb: MariaDBServer) -> Iterator[MakeUser]:
    """`mariadb_user(name=None, hosts=("%",), password=None)` creates a user; dropped after."""
    made: list[str] = []

    def make(
        name: str | None = None, hosts: Sequence[str] = ("%",), password: str | None = None
    ) -> MariaDBUser:
        user = MariaDBUser(
            name or f"app_{next(_names)}_{secrets.token_hex(3)}", password or new_password()
        )
        mariadb.create_user(user.name, user.password, hosts)
        made.append(user.name)
        return user

    yield make
    drop_users(mariadb, *made, "smrotate_new_")  # and staging rows a failed clone creation left


def drop_users(mariadb: MariaDBServer, *prefixes: str) -> None:
    """Drop every account (all its host rows) whose user name starts with one of `prefixes`."""
    users = {str(row[0]) for row in mariadb.execute("SELECT DISTINCT User FROM mysql.user")}
    for user in sorted(u for u in users if u.startswith(prefixes)):
        mariadb.drop_user(user)


@pytest.fixture
def mariadb_admin_secret(mariadb: MariaDBServer, make_secret: Callable[..., str]) -> str:
    """The ARN of a secret holding the server's admin (for `masterarn`)."""
    return make_secret(
        mariadb.admin_secret(), name=f"admin/mariadb-{secrets.token_hex(3)}", rotation=False
    )


# ---------------------------------------------------------------- helpers


def rotator(**env: str) -> MySQLRotator:
    """A rotator whose configuration is exactly `env` (never the developer's environment)."""
    return MySQLRotator(env=env)


def grants(server: MariaDBServer, user: str, host: str = "%") -> list[str]:
    """SHOW GRANTS for user@host, sorted, the user's name replaced by `U` and the password hash
    left out: the server's own account of what the account holds, to compare two accounts."""
    lines = []
    for (line,) in server.execute("SHOW GRANTS FOR %s@%s", (user, host)):
        text = str(line).replace(f"`{user.replace('`', '``')}`@", "`U`@")
        lines.append(re.sub(r" IDENTIFIED BY PASSWORD '[^']*'", "", text))
    return sorted(lines)


class Crash(BaseException):
    """The Lambda process dies: nothing in the engine catches it."""


@contextmanager
def crash_after(prefix: str) -> Iterator[None]:
    """While active, the process dies right after the first statement that starts with
    `prefix` ran (pymysql's Cursor.execute is wrapped, and restored on exit)."""
    original = pymysql.cursors.Cursor.execute
    fired: list[str] = []

    def execute(cursor: Any, query: str, args: Any = None) -> int:
        rows: int = original(cursor, query, args)
        if str(query).startswith(prefix) and not fired:
            fired.append(query)
            raise Crash(query)
        return rows

    pymysql.cursors.Cursor.execute = execute
    try:
        yield
    finally:
        pymysql.cursors.Cursor.execute = original
