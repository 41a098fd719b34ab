"""Alternating users on the suite's MariaDB: the clone gets every host row of the user, exactly
its privileges (grant option, columns, routines, proxy), roles with admin option and default
role, REQUIRE and limits, as the server itself reports them (SHOW GRANTS); changes to the
user follow on the next rotation; odd names work; a crash mid-sync resumes."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import MakeSecret
from helpers import new_token, rotate, value
from mariadb_fixtures import Crash, MakeUser, MariaDBUser, crash_after, grants, rotator

from smrotate.errors import TargetError
from smrotate.operator.driver import LocalDriver
from smrotate.testing.mariadb import MariaDBServer

pytestmark = pytest.mark.mariadb
ALTERNATING = {"ROTATION_STRATEGY": "alternating-users"}


def hosts(server: MariaDBServer, user: str) -> set[str]:
    return {
        str(h) for (h,) in server.execute("SELECT Host FROM mysql.user WHERE User = %s", (user,))
    }


def same_rights(server: MariaDBServer, base: str, clone: str) -> None:
    """The clone has a row for every host of the base, each with the same SHOW GRANTS."""
    assert hosts(server, clone) == hosts(server, base)
    for host in hosts(server, base):
        assert grants(server, clone, host) == grants(server, base, host), host


def q(name: str) -> str:
    """A backquoted identifier (test setup SQL; the rotator never formats SQL this way)."""
    return "`" + name.replace("`", "``").replace("%", "%%") + "`"


@pytest.fixture
def schema(mariadb: MariaDBServer) -> Iterator[str]:
    """A database with a table `t(a, b)` and a procedure `p`; dropped after the test."""
    name = f"shop_{secrets.token_hex(3)}"
    mariadb.execute(f"CREATE DATABASE {q(name)}")
    mariadb.execute(f"CREATE TABLE {q(name)}.t (a INT, b INT)")
    mariadb.execute(f"CREATE PROCEDURE {q(name)}.p() SELECT 1")
    yield name
    mariadb.execute(f"DROP DATABASE {q(name)}")


@pytest.fixture
def roles(mariadb: MariaDBServer) -> Iterator[tuple[str, str]]:
    """Two roles made by the admin (so it holds them WITH ADMIN OPTION); dropped after."""
    made = (f"reader_{secrets.token_hex(3)}", f"writer {secrets.token_hex(3)}")
    for role in made:
        mariadb.execute("CREATE ROLE %s", (role,))
    yield made
    for role in made:
        mariadb.execute("DROP ROLE %s", (role,))


def rich_user(
    mariadb: MariaDBServer, mariadb_user: MakeUser, db: str, roles: tuple[str, str]
) -> MariaDBUser:
    """A user on three hosts with privileges at every level, roles, REQUIRE and limits."""
    user = mariadb_user(hosts=("%", "127.0.0.1", "10.0.0.%"))
    account = (user.name, "%")
    reader, writer = roles
    mariadb.execute(f"GRANT SELECT ON {q(db)}.* TO %s", (reader,))
    mariadb.execute(f"GRANT SELECT, INSERT ON {q(db)}.* TO %s@%s WITH GRANT OPTION", account)
    mariadb.execute(f"GRANT SELECT (a), UPDATE (a, b) ON {q(db)}.t TO %s@%s", account)
    mariadb.execute(f"GRANT EXECUTE ON PROCEDURE {q(db)}.p TO %s@%s", account)
    mariadb.execute("GRANT PROCESS, BINLOG MONITOR ON *.* TO %s@%s", account)
    mariadb.execute("GRANT PROXY ON %s@%s TO %s@%s", (reader, "", *account))
    mariadb.execute("GRANT %s TO %s@%s", (reader, *account))
    mariadb.execute("GRANT %s TO %s@%s WITH ADMIN OPTION", (writer, *account))
    mariadb.execute("SET DEFAULT ROLE %s FOR %s@%s", (reader, *account))
    mariadb.execute("ALTER USER %s@%s REQUIRE SSL", account)
    local = (user.name, "127.0.0.1")
    mariadb.execute(f"GRANT DELETE ON {q(db)}.t TO %s@%s", local)
    mariadb.execute("ALTER USER %s@%s REQUIRE SSL WITH MAX_USER_CONNECTIONS 7", local)
    subnet = (user.name, "10.0.0.%")
    mariadb.execute(f"GRANT ALL PRIVILEGES ON {q(db)}.* TO %s@%s", subnet)
    mariadb.execute(
        "ALTER USER %s@%s REQUIRE SUBJECT %s AND ISSUER %s AND CIPHER %s "
        "WITH MAX_QUERIES_PER_HOUR 100 MAX_CONNECTIONS_PER_HOUR 9",
        (*subnet, "/CN=app's client", "/CN=smrotate test CA", "TLS_AES_256_GCM_SHA384"),
    )
    return user


def test_the_clone_gets_every_host_privilege_role_and_require(
    sm: Any,
    make_secret: MakeSecret,
    mariadb: MariaDBServer,
    mariadb_user: MakeUser,
    mariadb_admin_secret: str,
    schema: str,
    roles: tuple[str, str],
) -> None:
    user = rich_user(mariadb, mariadb_user, schema, roles)
    arn = make_secret(mariadb.secret(user.name, user.password, masterarn=mariadb_admin_secret))
    rot = rotator(**ALTERNATING)
    rotate(arn, rot)
    clone = value(sm, arn)
    assert clone["username"] == user.name + "_clone"
    same_rights(mariadb, user.name, clone["username"])
    assert any("WITH GRANT OPTION" in line for line in grants(mariadb, clone["username"]))
    assert f"SET DEFAULT ROLE `{roles[0]}` FOR `U`@`%`" in grants(mariadb, clone["username"])
    assert mariadb.logs_in(clone["username"], clone["password"])
    assert mariadb.logs_in(user.name, user.password)  # the previous user keeps working
    assert not mariadb.logs_in(clone["username"], clone["password"], tls=False)  # REQUIRE SSL

    rotate(arn, rot)  # back to the user, with a new password; the clone keeps its own
    back = value(sm, arn)
    assert back["username"] == user.name
    assert mariadb.logs_in(user.name, back["password"])
    assert not mariadb.logs_in(user.name, user.password)
    assert mariadb.logs_in(clone["username"], clone["password"])
    same_rights(mariadb, user.name, clone["username"])


def test_changes_to_the_user_follow_on_the_next_rotation(
    sm: Any,
    make_secret: MakeSecret,
    mariadb: MariaDBServer,
    mariadb_user: MakeUser,
    mariadb_admin_secret: str,
    schema: str,
    roles: tuple[str, str],
) -> None:
    user = rich_user(mariadb, mariadb_user, schema, roles)
    arn = make_secret(mariadb.secret(user.name, user.password, masterarn=mariadb_admin_secret))
    # GRANT OPTION on *.* (below) is admin-level: the pair must be named to be rotated
    rot = rotator(**ALTERNATING, ROTATION_ALLOW_PRIVILEGED=f"{user.name},{user.name}_clone")
    rotate(arn, rot)
    clone = value(sm, arn)["username"]
    reader, writer = roles
    account = (user.name, "%")
    mariadb.execute(f"GRANT DELETE, CREATE VIEW ON {q(schema)}.* TO %s@%s", account)
    mariadb.execute(f"REVOKE INSERT ON {q(schema)}.* FROM %s@%s", account)
    mariadb.execute(f"REVOKE GRANT OPTION ON {q(schema)}.* FROM %s@%s", account)
    mariadb.execute(f"REVOKE UPDATE (b) ON {q(schema)}.t FROM %s@%s", account)
    mariadb.execute("REVOKE PROCESS ON *.* FROM %s@%s", account)
    mariadb.execute("GRANT SLAVE MONITOR ON *.* TO %s@%s WITH GRANT OPTION", account)
    mariadb.execute("REVOKE %s FROM %s@%s", (writer, *account))
    mariadb.execute("GRANT %s TO %s@%s WITH ADMIN OPTION", (reader, *account))
    mariadb.execute("SET DEFAULT ROLE NONE FOR %s@%s", account)
    mariadb.execute("ALTER USER %s@%s REQUIRE NONE WITH MAX_UPDATES_PER_HOUR 3", account)
    mariadb.execute(f"REVOKE DELETE ON {q(schema)}.* FROM %s@%s", (user.name, "10.0.0.%"))
    mariadb.execute("DROP USER %s@%s", (user.name, "127.0.0.1"))
    mariadb.execute("CREATE USER %s@%s IDENTIFIED BY %s", (user.name, "192.168.%", user.password))
    before = grants(mariadb, clone)
    assert before != grants(mariadb, user.name)

    rotate(arn, rot)
    same_rights(mariadb, user.name, clone)
    assert "192.168.%" in hosts(mariadb, clone)
    stored = mariadb.execute(
        "SELECT DISTINCT authentication_string FROM mysql.user WHERE User = %s", (clone,)
    )
    assert len(stored) == 1  # the new host row has the live clone's password, not a new one
    assert "127.0.0.1" not in hosts(mariadb, clone)
    assert not any(
        f"ON `{schema}`.* TO `U`@`%` WITH GRANT OPTION" in g for g in grants(mariadb, clone)
    )
    # the live clone (AWSPREVIOUS now) still logs in, over TLS or not (REQUIRE NONE)
    previous = value(sm, arn, "AWSPREVIOUS")
    assert mariadb.logs_in(clone, previous["password"], tls=False)
    assert mariadb.logs_in(user.name, value(sm, arn)["password"], tls=False)


def test_all_privileges_narrowed_to_a_list_is_copied(
    sm: Any,
    make_secret: MakeSecret,
    mariadb: MariaDBServer,
    mariadb_user: MakeUser,
    mariadb_admin_secret: str,
    schema: str,
) -> None:
    user = mariadb_user()
    mariadb.execute(f"GRANT ALL PRIVILEGES ON {q(schema)}.* TO %s@%s", (user.name, "%"))
    arn = make_secret(mariadb.secret(user.name, user.password, masterarn=mariadb_admin_secret))
    rot = rotator(**ALTERNATING)
    rotate(arn, rot)
    clone = value(sm, arn)["username"]
    assert f"GRANT ALL PRIVILEGES ON `{schema}`.* TO `U`@`%`" in grants(mariadb, clone)
    mariadb.execute(f"REVOKE DROP ON {q(schema)}.* FROM %s@%s", (user.name, "%"))
    rotate(arn, rot)
    same_rights(mariadb, user.name, clone)
    mariadb.execute(f"GRANT DROP ON {q(schema)}.* TO %s@%s", (user.name, "%"))
    rotate(arn, rot)
    same_rights(mariadb, user.name, clone)


@pytest.mark.parametrize(
    ("name", "host"),
    [
        ("o'brien\"`x\\", "10.1.%"),
        ("app%_db", "ho'st_%.example"),
        ("ünïcödé_用户", "ünï.example"),
    ],
)
def test_names_and_hosts_with_quotes_wildcards_and_non_ascii(
    sm: Any,
    make_secret: MakeSecret,
    mariadb: MariaDBServer,
    mariadb_user: MakeUser,
    mariadb_admin_secret: str,
    name: str,
    host: str,
) -> None:
    db = f"we`ird%_db ü {secrets.token_hex(2)}"
    mariadb.execute(f"CREATE DATABASE {q(db)}")
    mariadb.execute(f"CREATE TABLE {q(db)}.{q('t`%')} ({q('c o`l')} INT)")
    try:
        user = mariadb_user(name=f"{name}{secrets.token_hex(2)}", hosts=("%", host))
        for account in ((user.name, "%"), (user.name, host)):
            mariadb.execute(f"GRANT SELECT ON {q(db)}.* TO %s@%s", account)
            mariadb.execute(f"GRANT UPDATE ({q('c o`l')}) ON {q(db)}.{q('t`%')} TO %s@%s", account)
        arn = make_secret(mariadb.secret(user.name, user.password, masterarn=mariadb_admin_secret))
        rot = rotator(**ALTERNATING)
        for _ in range(3):
            rotate(arn, rot)
            current = value(sm, arn)
            assert mariadb.logs_in(current["username"], current["password"])
        same_rights(mariadb, user.name, user.name + "_clone")
        assert any("`we``ird%_db ü" in line for line in grants(mariadb, user.name + "_clone"))
    finally:
        mariadb.execute(f"DROP DATABASE {q(db)}")


def test_the_clone_name_respects_the_servers_limit(
    sm: Any,
    make_secret: MakeSecret,
    mariadb: MariaDBServer,
    mariadb_user: MakeUser,
    mariadb_admin_secret: str,
) -> None:
    user = mariadb_user(name="u" * 74 + secrets.token_hex(3))  # 80 characters: MariaDB's limit
    arn = make_secret(mariadb.secret(user.name, user.password, masterarn=mariadb_admin_secret))
    rotate(arn, rotator(**ALTERNATING))
    clone = value(sm, arn)["username"]
    digest = hashlib.sha256(user.name.encode()).hexdigest()[:6]
    assert clone == user.name[:67] + "_" + digest + "_clone"  # two bases never share a clone
    assert len(clone) == 80
    assert mariadb.logs_in(clone, value(sm, arn)["password"])
    rotate(arn, rotator(**ALTERNATING))
    assert value(sm, arn)["username"] == user.name  # back to the full name

    other = mariadb_user(name="v" * 76)
    arn = make_secret(mariadb.secret(other.name, other.password, masterarn=mariadb_admin_secret))
    result = LocalDriver(rotator(**ALTERNATING, USERNAME_CHARACTER_LIMIT="90").handle).rotate(arn)
    assert isinstance(result.error, TargetError)
    assert "has 82 characters; this MariaDB 10.11" in str(result.error)
    assert "set USERNAME_CHARACTER_LIMIT to 80 or less" in str(result.error)
    assert hosts(mariadb, other.name + "_clone") == set()


def test_a_crash_in_the_middle_of_the_clone_sync_resumes(
    sm: Any,
    make_secret: MakeSecret,
    mariadb: MariaDBServer,
    mariadb_user: MakeUser,
    mariadb_admin_secret: str,
    schema: str,
    roles: tuple[str, str],
) -> None:
    """The process dies after the clone's first host row was created, then after its first
    GRANT: each resumed run picks up where the last one stopped."""
    user = rich_user(mariadb, mariadb_user, schema, roles)
    arn = make_secret(mariadb.secret(user.name, user.password, masterarn=mariadb_admin_secret))
    token = new_token()
    for prefix in ("CREATE USER", "GRANT"):
        dying = rotator(**ALTERNATING)
        with crash_after(prefix), pytest.raises(Crash):
            LocalDriver(dying.handle).rotate(arn, token=token)
    clone = user.name + "_clone"
    assert grants(mariadb, clone) != grants(mariadb, user.name)
    result = LocalDriver(rotator(**ALTERNATING).handle).rotate(arn, token=token)
    assert result.ok, result.error
    same_rights(mariadb, user.name, clone)
    current = value(sm, arn)
    assert current["username"] == clone
    assert mariadb.logs_in(clone, current["password"])


def test_a_user_that_does_not_exist_is_a_clear_error(
    sm: Any,
    make_secret: MakeSecret,
    mariadb: MariaDBServer,
    mariadb_admin_secret: str,
) -> None:
    """AWSCURRENT must log in first (confused-deputy guard), so a missing user fails there,
    before the admin does anything."""
    arn = make_secret(mariadb.secret("ghost", "Pw1!ghost-password", masterarn=mariadb_admin_secret))
    result = LocalDriver(rotator(**ALTERNATING).handle).rotate(arn)
    assert result.error is not None
    assert "confused-deputy guard" in str(result.error)
    assert hosts(mariadb, "ghost_clone") == set()
