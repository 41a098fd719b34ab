"""The threat model's attacks on the MySQL rotator, played on the suite's MariaDB 10.11.

The attacker controls one ordinary account (some attacks give it CREATE USER, as said) and
can write the rotated secret; it does not hold the admin secret. Each test plays the attack,
then checks the server: every account's password hash and SHOW GRANTS are as before (no new
account, no right gained), the victim's password still logs in, and the general log shows no
password statement for the victim (not even a hash: nothing was attempted).
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pymysql
import pytest
from conftest import MakeSecret
from helpers import rotate, value
from mariadb_fixtures import MakeUser, MariaDBUser, rotator

from smrotate.database import DatabaseAccount, Tls
from smrotate.errors import Failure, LoginRefusedError, RotationStateError, TargetError
from smrotate.operator.driver import LocalDriver, RotationResult
from smrotate.rotators.mysql import MySQLRotator
from smrotate.rotators.mysql.session import MySQLSession
from smrotate.testing.mariadb import MariaDBServer
from smrotate.testing.tls import Pki

pytestmark = pytest.mark.mariadb

VIA_ADMIN = {"ROTATION_STRATEGY": "single-user-via-admin"}
ALTERNATING = {"ROTATION_STRATEGY": "alternating-users"}
ADMIN_STRATEGIES = pytest.mark.parametrize(
    "env", [VIA_ADMIN, ALTERNATING], ids=["via-admin", "alternating"]
)
ALL_STRATEGIES = pytest.mark.parametrize(
    "env", [{}, VIA_ADMIN, ALTERNATING], ids=["single-user", "via-admin", "alternating"]
)

State = dict[tuple[str, str], tuple[str, tuple[str, ...]]]


def state(server: MariaDBServer) -> State:
    """Every account and role: (password hash, SHOW GRANTS lines)."""
    found: State = {}
    for user, host, auth, role in server.execute(
        "SELECT User, Host, authentication_string, is_role FROM mysql.user"
    ):
        who = "SHOW GRANTS FOR %s" if role == "Y" else "SHOW GRANTS FOR %s@%s"
        params = (user,) if role == "Y" else (user, host)
        lines = tuple(sorted(str(line) for (line,) in server.execute(who, params)))
        found[str(user), str(host)] = (str(auth), lines)
    return found


def run(arn: str, env: dict[str, str]) -> RotationResult:
    """A rotation that must fail (at setSecret: before any change)."""
    result = LocalDriver(rotator(**env).handle).rotate(arn)
    assert not result.ok
    return result


@contextmanager
def untouched(server: MariaDBServer, *victims: MariaDBUser) -> Iterator[None]:
    """The block leaves every account as it was; no hash of a victim's password is written
    (nothing set a password), and the victims' passwords still log in."""
    before, start = state(server), len(server.log_text())
    yield
    assert state(server) == before
    log = server.log_text()[start:]
    assert "SET PASSWORD" not in log
    assert "IDENTIFIED" not in log
    for victim in victims:
        assert server.logs_in(victim.name, victim.password)


def attacker_with_create_user(server: MariaDBServer, mariadb_user: MakeUser) -> MariaDBUser:
    attacker = mariadb_user()
    server.execute("GRANT CREATE USER ON *.* TO %s@%s", (attacker.name, "%"))
    return attacker


# ---------------------------------------------------------------- 4: anonymous accounts


@ALL_STRATEGIES
def test_an_anonymous_account_that_takes_the_victims_login_is_refused(
    sm: Any,
    make_secret: MakeSecret,
    mariadb: MariaDBServer,
    mariadb_user: MakeUser,
    mariadb_admin_secret: str,
    env: dict[str, str],
) -> None:
    """''@'127.0.0.1' is more specific than victim@'%': a login as the victim with the
    anonymous account's password (which the attacker knows) succeeds, as the anonymous
    account. The secret naming the victim with that password must not count as the victim's."""
    victim = mariadb_user()
    anonymous = "Pw1!anonymous-" + secrets.token_hex(8)
    mariadb.execute("CREATE USER ''@'127.0.0.1' IDENTIFIED BY %s", (anonymous,))
    try:
        secret = mariadb.secret(victim.name, anonymous, masterarn=mariadb_admin_secret)
        arn = make_secret(secret)
        before, start = state(mariadb), len(mariadb.log_text())
        result = run(arn, env)
        assert isinstance(result.error, LoginRefusedError)
        assert state(mariadb) == before  # the victim's and the anonymous account's hashes
        log = mariadb.log_text()[start:]
        assert "SET PASSWORD" not in log
        assert "IDENTIFIED" not in log
    finally:
        mariadb.execute("DROP USER ''@'127.0.0.1'")
    assert mariadb.logs_in(victim.name, victim.password)


# ---------------------------------------------------------------- 3: another server


@ADMIN_STRATEGIES
def test_a_secret_naming_another_server_never_lets_the_admin_act_here(
    sm: Any,
    make_secret: MakeSecret,
    mariadb: MariaDBServer,
    mariadb_elsewhere: MariaDBServer,
    mariadb_user: MakeUser,
    mariadb_admin_secret: str,
    env: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The attacker runs its own MariaDB (a certificate from the same CA) and made the
    victim's name there with a password it knows; the secret points at that server. The
    victim logs in there, but the admin acts on the real server: it must refuse."""
    victim = mariadb_user()
    forged = "Pw1!forged-" + secrets.token_hex(8)
    mariadb_elsewhere.create_user(victim.name, forged)
    try:
        secret = mariadb_elsewhere.secret(victim.name, forged, masterarn=mariadb_admin_secret)
        arn = make_secret(secret)
        with untouched(mariadb, victim):
            result = run(arn, env)
        assert isinstance(result.error, RotationStateError)
        assert "could not prove they are the same server" in str(result.error)
        assert "not on the admin's server" in caplog.text
    finally:
        mariadb_elsewhere.drop_user(victim.name)


def test_the_admin_needs_process_to_prove_another_name_is_its_server(
    sm: Any,
    make_secret: MakeSecret,
    mariadb: MariaDBServer,
    mariadb_user: MakeUser,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Same server, another name (127.0.0.1 instead of localhost): the proof needs the admin
    to see the user's session. An admin without PROCESS cannot, and refuses."""
    weak = mariadb_user()
    for grant in ("GRANT CREATE USER ON *.* TO %s@%s", "GRANT SELECT ON mysql.* TO %s@%s"):
        mariadb.execute(grant, (weak.name, "%"))
    master = make_secret(
        mariadb.secret(weak.name, weak.password, host="127.0.0.1", ssl=False),
        name="admin/no-process",
        rotation=False,
    )
    victim = mariadb_user()
    arn = make_secret(mariadb.secret(victim.name, victim.password, masterarn=master))
    with untouched(mariadb, victim):
        result = run(arn, VIA_ADMIN)
    assert isinstance(result.error, RotationStateError)
    assert "grant it PROCESS" in caplog.text


# ---------------------------------------------------------------- 5: clones, admin rights


@pytest.mark.parametrize("how", ["created", "renamed from another base's clone"])
def test_a_clone_the_attacker_made_is_never_adopted(
    sm: Any,
    make_secret: MakeSecret,
    mariadb: MariaDBServer,
    mariadb_user: MakeUser,
    mariadb_admin_secret: str,
    how: str,
) -> None:
    """The attacker (holding CREATE USER) makes `victim_clone` with a password it knows, or
    renames a real clone of its own user to that name, and writes a secret naming it. If the
    admin adopted it, `victim_clone` would get the victim's rights and the victim's next
    password would land in the attacker's secret."""
    attacker = attacker_with_create_user(mariadb, mariadb_user)
    victim = mariadb_user()
    mariadb.execute("GRANT SELECT ON mysql.db TO %s@%s", (victim.name, "%"))
    clone, forged = victim.name + "_clone", "Pw1!forged-" + secrets.token_hex(8)
    if how == "created":
        with mariadb.connect(attacker.name, attacker.password) as conn, conn.cursor() as cursor:
            cursor.execute("CREATE USER %s@%s IDENTIFIED BY %s", (clone, "%", forged))
    else:
        own = mariadb_user()  # the attacker's second account, rotated for real once
        own_arn = make_secret(
            mariadb.secret(own.name, own.password, masterarn=mariadb_admin_secret)
        )
        rotate(own_arn, rotator(**ALTERNATING))
        forged = value(sm, own_arn)["password"]
        with mariadb.connect(attacker.name, attacker.password) as conn, conn.cursor() as cursor:
            cursor.execute("RENAME USER %s@%s TO %s@%s", (own.name + "_clone", "%", clone, "%"))
    arn = make_secret(mariadb.secret(clone, forged, masterarn=mariadb_admin_secret))
    with untouched(mariadb, victim):
        result = run(arn, ALTERNATING)
    assert isinstance(result.error, RotationStateError)
    assert "did not create it as the clone" in str(result.error)


ADMIN_LEVEL = {
    "CREATE USER": "GRANT CREATE USER ON *.* TO {}",
    "UPDATE on mysql": "GRANT UPDATE ON mysql.* TO {}",
    "column of a grant table": "GRANT UPDATE (Priv) ON mysql.global_priv TO {}",
    "wildcard covering mysql": "GRANT INSERT ON `m%%`.* TO {}",
    "SET USER": "GRANT SET USER ON *.* TO {}",
    "GRANT OPTION": "GRANT SELECT ON *.* TO {} WITH GRANT OPTION",
    "proxy anyone": "GRANT PROXY ON ''@'%%' TO {}",
    "role": "GRANT {role} TO {}",
    "role of a role": "GRANT {outer} TO {}",
}


@ADMIN_STRATEGIES
@pytest.mark.parametrize("grant", list(ADMIN_LEVEL), ids=list(ADMIN_LEVEL))
def test_an_account_with_admin_rights_is_never_reset_or_cloned(
    sm: Any,
    make_secret: MakeSecret,
    mariadb: MariaDBServer,
    mariadb_user: MakeUser,
    mariadb_admin_secret: str,
    env: dict[str, str],
    grant: str,
) -> None:
    """An account that can change other accounts (directly, through a wildcard, or through a
    role two levels down) is refused: the admin would clone admin rights, or hand a new
    password for such an account to whoever reads this secret."""
    victim = mariadb_user()
    role, outer = f"ops_{secrets.token_hex(3)}", f"team_{secrets.token_hex(3)}"
    for name in (role, outer):
        mariadb.execute("CREATE ROLE %s", (name,))
    mariadb.execute("GRANT SUPER ON *.* TO %s", (role,))
    mariadb.execute("GRANT %s TO %s", (role, outer))
    statement = ADMIN_LEVEL[grant].format("%s@%s", role="%s", outer="%s")
    extra = (role,) if grant == "role" else (outer,) if grant == "role of a role" else ()
    mariadb.execute(statement, (*extra, victim.name, "%"))
    try:
        arn = make_secret(
            mariadb.secret(victim.name, victim.password, masterarn=mariadb_admin_secret)
        )
        with untouched(mariadb, victim):
            result = run(arn, env)
        assert isinstance(result.error, RotationStateError)
        assert "has admin-level rights" in str(result.error)
    finally:
        for name in (outer, role):
            mariadb.execute("DROP ROLE %s", (name,))


@ADMIN_STRATEGIES
def test_the_admin_never_resets_or_clones_itself(
    sm: Any,
    make_secret: MakeSecret,
    mariadb: MariaDBServer,
    mariadb_admin_secret: str,
    env: dict[str, str],
) -> None:
    """The secret names the admin's own user with its real password (a right guess: the worst
    case). The admin must not reset itself into this secret, nor clone itself."""
    admin = MariaDBUser(mariadb.admin_user, mariadb.admin_password)
    arn = make_secret(mariadb.secret(admin.name, admin.password, masterarn=mariadb_admin_secret))
    with untouched(mariadb, admin):
        result = run(arn, env)
    assert isinstance(result.error, RotationStateError)
    assert "the admin secret's own user" in str(result.error)


def test_a_clone_of_the_admin_made_by_the_attacker_is_refused(
    sm: Any,
    make_secret: MakeSecret,
    mariadb: MariaDBServer,
    mariadb_user: MakeUser,
    mariadb_admin_secret: str,
) -> None:
    """An attacker holding CREATE USER makes `<admin>_clone` and writes a secret naming it:
    alternating users would copy the admin's rights to it and put the admin's next password
    into the attacker's secret."""
    admin = MariaDBUser(mariadb.admin_user, mariadb.admin_password)
    clone, forged = admin.name + "_clone", "Pw1!forged-" + secrets.token_hex(8)
    attacker = attacker_with_create_user(mariadb, mariadb_user)
    with mariadb.connect(attacker.name, attacker.password) as conn, conn.cursor() as cursor:
        cursor.execute("CREATE USER %s@%s IDENTIFIED BY %s", (clone, "%", forged))
    try:
        arn = make_secret(mariadb.secret(clone, forged, masterarn=mariadb_admin_secret))
        with untouched(mariadb, admin):
            result = run(arn, ALTERNATING)
        assert isinstance(result.error, RotationStateError)
    finally:
        mariadb.drop_user(clone)


# ---------------------------------------------------------------- 6, 7: TLS


@ADMIN_STRATEGIES
def test_the_users_secret_never_chooses_how_the_admin_connects(
    sm: Any,
    make_secret: MakeSecret,
    mariadb: MariaDBServer,
    mariadb_user: MakeUser,
    pki: Pki,
    env: dict[str, str],
    tmp_path: Any,
) -> None:
    """The secret says `"ssl": false`, names its own database, and trusts a CA bundle that
    also holds the attacker's CA. The admin secret says none of these (its CA comes from the
    function's DATABASE_CA_BUNDLE): the admin must connect over TLS, verified against that CA
    only, to no database; the server's log shows how each session connected."""
    db = f"app_{secrets.token_hex(3)}"
    mariadb.execute(f"CREATE DATABASE {db}")
    try:
        victim = mariadb_user()
        mariadb.execute(f"GRANT SELECT ON {db}.* TO %s@%s", (victim.name, "%"))
        bundle = tmp_path / "bundle.pem"
        bundle.write_text(pki.other_ca.read_text() + pki.ca.read_text())
        admin = {**mariadb.admin_secret()}
        del admin["sslrootcert"]
        master = make_secret(admin, name="admin/plain", rotation=False)
        secret = mariadb.secret(
            victim.name, victim.password, masterarn=master, ssl=False, dbname=db,
            sslrootcert=str(bundle),
        )  # fmt: skip
        arn = make_secret(secret)
        used: list[DatabaseAccount] = []

        class Recording(MySQLRotator):
            @contextmanager
            def login(self, account: DatabaseAccount) -> Iterator[MySQLSession]:
                used.append(account)
                with super().login(account) as session:
                    yield session

        start = len(mariadb.log_text())
        rotate(arn, Recording(env={**env, "DATABASE_CA_BUNDLE": str(pki.ca)}))
        admin_logins = [s for s in used if s.username == mariadb.admin_user]
        assert admin_logins
        assert all(s.tls.enabled and s.tls.ca_file == str(pki.ca) for s in admin_logins)
        assert all(s.dbname is None for s in admin_logins)
        connects = [line for line in mariadb.log_text()[start:].splitlines() if "Connect\t" in line]
        admin_lines = [line for line in connects if f"\t{mariadb.admin_user}@" in line]
        assert admin_lines
        assert all(line.endswith(" on  using SSL/TLS") for line in admin_lines)
        assert any(line.endswith(f" on {db} using TCP/IP") for line in connects)  # the user's
    finally:
        mariadb.execute(f"DROP DATABASE {db}")


def test_a_session_that_is_not_tls_although_tls_was_asked_is_refused(
    sm: Any, make_secret: MakeSecret, mariadb: MariaDBServer, mariadb_user: MakeUser
) -> None:
    """A driver that silently drops TLS (as libpq does at a NUL in its conninfo): the session
    is checked after connecting, and a plaintext one is refused before the password changes."""

    class Downgrading(MySQLRotator):
        @contextmanager
        def login(self, account: DatabaseAccount) -> Iterator[MySQLSession]:
            plain = dataclasses.replace(account, tls=Tls(False))
            with super().login(plain) as session:
                yield MySQLSession(session.conn, account)

    victim = mariadb_user()
    arn = make_secret(mariadb.secret(victim.name, victim.password))
    with untouched(mariadb, victim):
        result = LocalDriver(Downgrading(env={}).handle).rotate(arn)
    assert isinstance(result.error, TargetError)
    assert result.error.failure is Failure.TLS
    assert "does not use TLS although TLS was asked" in str(result.error)


# ---------------------------------------------------------------- 12: limits, validation


def test_the_clone_keeps_the_bases_statement_time_limit_and_lock(
    sm: Any,
    make_secret: MakeSecret,
    mariadb: MariaDBServer,
    mariadb_user: MakeUser,
    mariadb_admin_secret: str,
) -> None:
    """The DBA limits the application's statements to 2.5 s (MAX_STATEMENT_TIME) or locks its
    account: the application must not escape either through its clone."""
    user = mariadb_user()
    mariadb.execute("ALTER USER %s@%s WITH MAX_STATEMENT_TIME 2.5", (user.name, "%"))
    arn = make_secret(mariadb.secret(user.name, user.password, masterarn=mariadb_admin_secret))
    rot = rotator(**ALTERNATING)
    rotate(arn, rot)
    clone = user.name + "_clone"

    def options(name: str) -> tuple[str, str]:
        [(limit, locked)] = mariadb.execute(
            "SELECT max_statement_time, JSON_EXTRACT(Priv, '$.account_locked') "
            "FROM mysql.user JOIN mysql.global_priv USING (User, Host) WHERE User = %s",
            (name,),
        )
        return str(limit), str(locked)

    assert options(clone) == ("2.500000", "None")
    mariadb.execute("ALTER USER %s@%s WITH MAX_STATEMENT_TIME 0", (user.name, "%"))
    rotate(arn, rot)  # back to the base
    assert options(clone)[0] == "0.000000"
    mariadb.execute("ALTER USER %s@%s WITH MAX_STATEMENT_TIME 7", (user.name, "%"))
    rotate(arn, rot)  # to the clone
    assert options(clone)[0] == "7.000000"
    mariadb.execute("ALTER USER %s@%s ACCOUNT LOCK", (user.name, "%"))
    previous = value(sm, arn)
    result = LocalDriver(rot.handle).rotate(arn)
    assert not result.ok  # the base is locked: its new password cannot be tested...
    assert options(clone) == ("7.000000", "true")  # ...and the clone is locked with it
    with pytest.raises(pymysql.OperationalError, match="this account is locked"):
        mariadb.logs_in(clone, previous["password"])


@pytest.fixture
def password_check(mariadb: MariaDBServer) -> Iterator[Callable[[str, int | str], None]]:
    """MariaDB's simple_password_check, installed for one test; `set(name, value)` changes
    its settings (and strict_password_validation), all restored after."""
    mariadb.execute("INSTALL SONAME 'simple_password_check'")
    [(strict,)] = mariadb.execute("SELECT @@GLOBAL.strict_password_validation")

    def configure(name: str, setting: int | str) -> None:
        mariadb.execute(f"SET GLOBAL {name} = %s", (setting,))

    try:
        yield configure
    finally:
        mariadb.execute("UNINSTALL SONAME 'simple_password_check'")
        configure("strict_password_validation", "ON" if strict else "OFF")


@ALL_STRATEGIES
def test_a_password_validation_plugin_is_named_with_what_to_change(
    sm: Any,
    make_secret: MakeSecret,
    mariadb: MariaDBServer,
    mariadb_user: MakeUser,
    mariadb_admin_secret: str,
    password_check: Callable[[str, int | str], None],
    env: dict[str, str],
) -> None:
    """With simple_password_check and strict_password_validation (MariaDB's default), every
    password given as a hash is refused, and smrotate gives only hashes (the plaintext would
    land in the server's logs): the error says which plugin, its settings, and what to change.
    With strict_password_validation OFF the same rotation works, plaintext-free."""
    user = mariadb_user()
    password_check("simple_password_check_minimal_length", 40)
    arn = make_secret(mariadb.secret(user.name, user.password, masterarn=mariadb_admin_secret))
    before = state(mariadb)
    result = run(arn, env)
    message = str(result.error)
    assert "the server runs a password validation plugin" in message
    assert "simple_password_check_minimal_length=40" in message
    assert "PASSWORD_LENGTH, EXCLUDE_NUMBERS" in message
    assert "set strict_password_validation=OFF" in message
    assert state(mariadb) == before
    assert mariadb.logs_in(user.name, user.password)

    password_check("strict_password_validation", "OFF")
    start = len(mariadb.log_text())
    assert LocalDriver(rotator(**env).handle).rotate(arn, token=result.token).ok
    current = value(sm, arn)
    assert mariadb.logs_in(current["username"], current["password"])
    assert current["password"] not in mariadb.log_text()[start:]


def test_the_mark_is_json_only_the_admin_can_write(
    sm: Any,
    make_secret: MakeSecret,
    mariadb: MariaDBServer,
    mariadb_user: MakeUser,
    mariadb_admin_secret: str,
) -> None:
    """The clone smrotate made carries its base's name in mysql.global_priv; an account with
    CREATE USER cannot write it (no account statement can), nor read it as its own."""
    user = mariadb_user()
    arn = make_secret(mariadb.secret(user.name, user.password, masterarn=mariadb_admin_secret))
    rotate(arn, rotator(**ALTERNATING))
    rows = mariadb.execute(
        "SELECT Priv FROM mysql.global_priv WHERE User = %s", (user.name + "_clone",)
    )
    assert [json.loads(str(priv))["smrotate_clone_of"] for (priv,) in rows] == [user.name]
    attacker = attacker_with_create_user(mariadb, mariadb_user)
    update = "UPDATE mysql.global_priv SET Priv = JSON_SET(Priv, '$.smrotate_clone_of', %s)"
    with (
        mariadb.connect(attacker.name, attacker.password) as conn,
        conn.cursor() as cursor,
        pytest.raises(pymysql.MySQLError, match="UPDATE command denied"),
    ):
        cursor.execute(update + " WHERE User = %s", (user.name, attacker.name))
