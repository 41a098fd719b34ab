"""Single user and single user via admin on the suite's MariaDB: passwords change, old ones stop
working, every host row of the user follows, any allowed character survives the SQL, and a
rotation that crashed mid-step resumes."""

from __future__ import annotations

import string
from collections.abc import Callable
from typing import Any

import pytest
from conftest import MakeSecret, labels, moto_backend
from helpers import new_token, rotate, value
from mariadb_fixtures import Crash, MakeUser, crash_after, rotator

from smrotate.errors import LoginRefusedError, RotationStateError
from smrotate.operator.driver import LocalDriver
from smrotate.passwords import PasswordPolicy
from smrotate.rotators.mysql import MySQLRotator
from smrotate.rotators.mysql.sql import native_hash
from smrotate.testing.mariadb import MariaDBServer

pytestmark = pytest.mark.mariadb


def hashes(server: MariaDBServer, user: str) -> dict[str, str]:
    rows = server.execute(
        "SELECT Host, authentication_string FROM mysql.user WHERE User = %s", (user,)
    )
    return {str(host): str(stored) for host, stored in rows}


def test_three_rotations_each_password_works_and_the_old_ones_are_refused(
    sm: Any, make_secret: MakeSecret, mariadb: MariaDBServer, mariadb_user: MakeUser
) -> None:
    user = mariadb_user()
    arn = make_secret(mariadb.secret(user.name, user.password))
    rot = rotator()
    seen = [user.password]
    for _ in range(3):
        rotate(arn, rot)
        new = value(sm, arn)["password"]
        assert new not in seen
        assert mariadb.logs_in(user.name, new)
        assert not any(mariadb.logs_in(user.name, old) for old in seen)
        assert value(sm, arn, "AWSPREVIOUS")["password"] == seen[-1]
        seen.append(new)
    assert rot.stats["refused"] == 0  # the normal path makes no failed login


def test_single_user_changes_the_row_the_server_matched(
    sm: Any, make_secret: MakeSecret, mariadb: MariaDBServer, mariadb_user: MakeUser
) -> None:
    """A user changing its own password changes the account row it logged in as (here
    127.0.0.1, more specific than %); only an admin can change the other rows."""
    user = mariadb_user(hosts=("%", "127.0.0.1"))
    arn = make_secret(mariadb.secret(user.name, user.password))
    rotate(arn, rotator())
    new = value(sm, arn)["password"]
    assert hashes(mariadb, user.name) == {
        "127.0.0.1": native_hash(new),
        "%": native_hash(user.password),
    }


def test_via_admin_sets_every_host_row(
    sm: Any,
    make_secret: MakeSecret,
    mariadb: MariaDBServer,
    mariadb_user: MakeUser,
    mariadb_admin_secret: str,
) -> None:
    user = mariadb_user(hosts=("%", "127.0.0.1", "10.0.0.%", "db.example"))
    arn = make_secret(mariadb.secret(user.name, user.password, masterarn=mariadb_admin_secret))
    rot = rotator(ROTATION_STRATEGY="single-user-via-admin")
    for _ in range(2):
        rotate(arn, rot)
        new = value(sm, arn)["password"]
        assert set(hashes(mariadb, user.name).values()) == {native_hash(new)}
        assert mariadb.logs_in(user.name, new)
    assert not mariadb.logs_in(user.name, user.password)


@pytest.mark.parametrize("strategy", ["single-user", "single-user-via-admin", "alternating-users"])
def test_every_allowed_character_survives_the_sql(
    sm: Any,
    make_secret: MakeSecret,
    mariadb: MariaDBServer,
    mariadb_user: MakeUser,
    mariadb_admin_secret: str,
    strategy: str,
) -> None:
    """The first password holds every printable ASCII character, a space and non-ASCII
    letters; the next ones hold every character the policy allows, quotes and backslash
    included (EXCLUDE_CHARACTERS is empty)."""

    class EveryCharacter(MySQLRotator):
        @property
        def password_source(self) -> Callable[[PasswordPolicy], str]:
            return lambda policy: "".join(policy.character_classes())[::-1]

    first = string.printable.strip() + " pässwörd €"
    user = mariadb_user(password=first)
    arn = make_secret(mariadb.secret(user.name, first, masterarn=mariadb_admin_secret))
    rot = EveryCharacter(env={"ROTATION_STRATEGY": strategy, "EXCLUDE_CHARACTERS": ""})
    for _ in range(2):
        rotate(arn, rot)
        current = value(sm, arn)
        assert set(current["password"]) == set(
            string.punctuation + string.ascii_letters + string.digits
        )
        assert mariadb.logs_in(current["username"], current["password"])
    assert not mariadb.logs_in(user.name, first)


@pytest.mark.parametrize("strategy", ["single-user", "single-user-via-admin", "alternating-users"])
def test_new_passwords_reach_the_server_as_hashes_only(
    sm: Any,
    make_secret: MakeSecret,
    mariadb: MariaDBServer,
    mariadb_user: MakeUser,
    mariadb_admin_secret: str,
    strategy: str,
) -> None:
    """MariaDB logs statements as sent (here: its general log). For mysql_native_password
    accounts the rotator sends the hash, never the new password."""
    user = mariadb_user()
    arn = make_secret(mariadb.secret(user.name, user.password, masterarn=mariadb_admin_secret))
    start = len(mariadb.log_text())
    rot = rotator(ROTATION_STRATEGY=strategy)
    passwords = []
    for _ in range(2):
        rotate(arn, rot)
        passwords.append(value(sm, arn)["password"])
    log = mariadb.log_text()[start:]
    assert all(native_hash(p) in log for p in passwords)  # the statements are in the log...
    assert not any(p in log for p in passwords)  # ...but not the passwords


def test_resume_after_a_crash_right_after_the_password_changed(
    sm: Any, make_secret: MakeSecret, mariadb: MariaDBServer, mariadb_user: MakeUser
) -> None:
    """The process dies after SET PASSWORD ran: AWSCURRENT no longer logs in. A new process
    resuming the rotation finds AWSPENDING already set and finishes."""
    user = mariadb_user()
    arn = make_secret(mariadb.secret(user.name, user.password))
    token = new_token()
    dying = rotator()
    with crash_after("SET PASSWORD"), pytest.raises(Crash):
        LocalDriver(dying.handle).rotate(arn, token=token)
    pending = value(sm, arn, "AWSPENDING")["password"]
    assert mariadb.logs_in(user.name, pending)
    assert not mariadb.logs_in(user.name, user.password)  # AWSCURRENT is stale now

    resumed = LocalDriver(rotator().handle).rotate(arn, token=token)
    assert resumed.ok, resumed.error
    assert value(sm, arn)["password"] == pending
    assert labels(moto_backend().secrets[arn].name)[token] == ["AWSCURRENT"]


def test_an_anonymous_account_that_matches_first_fails_the_test_step(
    sm: Any, make_secret: MakeSecret, mariadb: MariaDBServer, mariadb_user: MakeUser
) -> None:
    """''@'127.0.0.1' is more specific than app@'%': a login as app with the anonymous
    account's password succeeds as the anonymous account. Every login checks CURRENT_USER(),
    so this one counts as refused, and the anonymous account's password never changes.
    (tests/security/test_mysql_attacks.py plays this as an attack, on every strategy.)"""
    user = mariadb_user()
    mariadb.execute("CREATE USER ''@'127.0.0.1' IDENTIFIED BY %s", (user.password,))
    try:
        arn = make_secret(mariadb.secret(user.name, user.password))
        result = LocalDriver(rotator().handle).rotate(arn)
        assert isinstance(result.error, LoginRefusedError)
        assert hashes(mariadb, "") == {"127.0.0.1": native_hash(user.password)}
    finally:
        mariadb.execute("DROP USER ''@'127.0.0.1'")


def test_via_admin_proves_another_name_is_the_same_server(
    sm: Any,
    make_secret: MakeSecret,
    mariadb: MariaDBServer,
    mariadb_user: MakeUser,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The admin secret names the server as 127.0.0.1, the user's as localhost: the admin
    finds the user's session (holding a lock with a random name) in its own process list, and
    goes on. An anonymous account anywhere on the server makes that proof worthless (the
    process list shows the name a client asked for): then the admin refuses."""
    admin = mariadb.admin_secret()
    master = make_secret({**admin, "host": "127.0.0.1", "ssl": False}, name="admin/by-ip")
    user = mariadb_user()
    arn = make_secret(mariadb.secret(user.name, user.password, masterarn=master))
    rot = rotator(ROTATION_STRATEGY="single-user-via-admin")
    rotate(arn, rot)
    assert mariadb.logs_in(user.name, value(sm, arn)["password"])

    mariadb.execute("CREATE USER ''@'10.9.%%' IDENTIFIED BY %s", ("Pw1!anonymous-elsewhere",))
    try:
        result = LocalDriver(rot.handle).rotate(arn)
    finally:
        mariadb.execute("DROP USER ''@'10.9.%%'")
    assert isinstance(result.error, RotationStateError)
    assert "anonymous accounts" in caplog.text
    assert mariadb.logs_in(user.name, value(sm, arn)["password"])
