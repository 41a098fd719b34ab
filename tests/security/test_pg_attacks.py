"""Attacks on the PostgreSQL rotator, on the suite's private PostgreSQL 15.

The attacker controls one application role (its objects, its settings, its own database) and
can write the rotated secret; it does not hold the admin secret. Each test plays the attack and
then asks the server: the attacker is still no superuser, the victim's password is unchanged,
no role was created or granted, the log holds no plaintext password.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import MakeSecret
from helpers import new_password, rotate, value
from pg_fixtures import PgUser
from pg_helpers import LogWindow, alter_role_lines, log_window, rotator
from psycopg import sql

from smrotate.errors import RotationStateError, SecretFormatError, TargetError
from smrotate.operator.driver import LocalDriver, RotationResult
from smrotate.testing.postgres import PostgresServer, scram_verifier
from smrotate.testing.tls import Pki

pytestmark = pytest.mark.postgres
MakeUser = Callable[..., PgUser]
ALTERNATING = {"ROTATION_STRATEGY": "alternating-users"}
VIA_ADMIN = {"ROTATION_STRATEGY": "single-user-via-admin"}
ADMIN_STRATEGIES = pytest.mark.parametrize(
    "env", [VIA_ADMIN, ALTERNATING], ids=["via-admin", "alternating"]
)


@pytest.fixture(scope="module")
def rogue(pki: Pki) -> Iterator[PostgresServer]:
    """The attacker's own server: same CA, same host name (its certificate is as valid)."""
    server = PostgresServer.start(pki)
    yield server
    server.stop()


def ident(name: str) -> sql.Identifier:
    return sql.Identifier(name)


def role(pg: PostgresServer, name: str) -> dict[str, Any] | None:
    """pg_roles' row for `name`, None when there is no such role."""
    rows = pg.execute(
        "SELECT rolsuper, rolcanlogin, rolcreaterole FROM pg_roles WHERE rolname = %s", (name,)
    )
    return dict(zip(("super", "login", "createrole"), rows[0], strict=True)) if rows else None


def groups(pg: PostgresServer, member: str) -> set[tuple[str, bool]]:
    """(role, admin option) for every role `member` is a direct member of."""
    rows = pg.execute(
        "SELECT g.rolname, m.admin_option FROM pg_auth_members m JOIN pg_roles g "
        "ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = %s",
        (member,),
    )
    return {(name, option) for name, option in rows}


def members(pg: PostgresServer, group: str) -> set[str]:
    rows = pg.execute(
        "SELECT u.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
        "JOIN pg_roles u ON u.oid = m.member WHERE g.rolname = %s",
        (group,),
    )
    return {name for (name,) in rows}


def setconfig(pg: PostgresServer, name: str) -> list[tuple[str, list[str]]]:
    """pg_db_role_setting's rows for `name`, as the server stores them (text entries)."""
    return sorted(
        pg.execute(
            "SELECT coalesce(d.datname, ''), s.setconfig FROM pg_db_role_setting s JOIN pg_roles r"
            " ON r.oid = s.setrole LEFT JOIN pg_database d ON d.oid = s.setdatabase"
            " WHERE r.rolname = %s",
            (name,),
        )
    )


def failed(arn: str, **env: str) -> BaseException:
    """Rotate; expect a step to fail; its error."""
    result: RotationResult = LocalDriver(rotator(**env).handle).rotate(arn)
    assert not result.ok, "the rotation went through"
    assert result.error is not None
    return result.error


def passwords_of(sm: Any, arn: str) -> list[str]:
    """The password of every version of the secret (labelled or not)."""
    versions = sm.list_secret_version_ids(SecretId=arn, IncludeDeprecated=True)["Versions"]
    found = []
    for version in versions:
        text = sm.get_secret_value(SecretId=arn, VersionId=version["VersionId"]).get("SecretString")
        if text:
            found.append(str(json.loads(text)["password"]))
    return found


def assert_no_plaintext(log: LogWindow, *passwords: str) -> None:
    for password in passwords:
        assert password not in log.text


def as_user(pg: PostgresServer, user: PgUser, statement: Any, *, dbname: str = "postgres") -> None:
    """Run one statement as `user` (the attacker acting with its own rights)."""
    with pg.connect(user.name, user.password, dbname=dbname) as conn:
        conn.execute(statement)


# ----------------------------------------------------------------- 1, 2: SQL the role controls


def test_evil_set_config_on_the_search_path_never_runs_as_the_admin(
    sm: Any, make_secret: MakeSecret, pg: PostgresServer, pg_user: MakeUser, pg_admin_secret: str
) -> None:
    """The app puts its own schema before pg_catalog in its search_path and plants a
    set_config there that makes it superuser; then waits for a scheduled rotation."""
    app = pg_user()
    evil = f"evil_{app.name}"
    pg.execute(sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(ident(evil), ident(app.name)))
    for statement in (
        "CREATE TABLE {s}.calls (who text)",
        """CREATE FUNCTION {s}.set_config(text, text, boolean) RETURNS text LANGUAGE plpgsql
        AS $$ BEGIN
            INSERT INTO {s}.calls VALUES (session_user);
            EXECUTE format('ALTER ROLE %I SUPERUSER', {app});
            RETURN pg_catalog.set_config($1, $2, $3);
        END $$""",
        "ALTER ROLE {app_id} SET search_path = {s}, pg_catalog",
        "ALTER ROLE {app_id} SET work_mem = '8MB'",  # sorts after search_path: set_config runs
    ):
        as_user(
            pg,
            app,
            sql.SQL(statement).format(
                s=ident(evil), app=sql.Literal(app.name), app_id=ident(app.name)
            ),
        )
    arn = make_secret(pg.secret(app.name, app.password, masterarn=pg_admin_secret))

    with log_window(pg) as log:
        rotate(arn, rotator(**ALTERNATING))

    assert role(pg, app.name) == {"super": False, "login": True, "createrole": False}
    assert role(pg, app.name + "_clone") == {"super": False, "login": True, "createrole": False}
    assert pg.execute(sql.SQL("SELECT count(*) FROM {}.calls").format(ident(evil))) == [(0,)]
    # The settings were copied as data, exactly as the server stores the base's.
    [(_, base_config)] = setconfig(pg, app.name)
    [(_, clone_config)] = setconfig(pg, app.name + "_clone")
    assert sorted(clone_config) == sorted([*base_config, f"role={app.name}"])
    assert pg.logs_in(app.name, app.password)  # the previous credentials keep working
    assert_no_plaintext(log, *passwords_of(sm, arn))


@pytest.mark.parametrize("admin_dbname", [None, "app"], ids=["admin-default-db", "admin-in-app-db"])
def test_a_planted_public_unnest_in_the_apps_own_database_never_runs(
    sm: Any,
    make_secret: MakeSecret,
    pg: PostgresServer,
    pg_user: MakeUser,
    admin_dbname: str | None,
) -> None:
    """The app owns its database and plants public.unnest(text[]) (an exact match beats
    pg_catalog.unnest(anyarray)); its secret names that database. With an admin secret that
    names no dbname the admin must not follow the user's; with one that names the app's own
    database, every call must still be pg_catalog's."""
    app = pg_user()
    database = f"db_{app.name}"
    pg.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(ident(database), ident(app.name)))
    for statement in (
        "CREATE TABLE public.calls (who text)",
        """CREATE FUNCTION public.unnest(text[]) RETURNS SETOF text LANGUAGE plpgsql
        AS $$ BEGIN
            INSERT INTO public.calls VALUES (session_user);
            EXECUTE format('ALTER ROLE %I SUPERUSER', {app});
            RETURN QUERY SELECT pg_catalog.unnest($1);
        END $$""",
        "ALTER ROLE {app_id} SET work_mem = '8MB'",  # so that the settings query has rows
    ):
        as_user(
            pg,
            app,
            sql.SQL(statement).format(app=sql.Literal(app.name), app_id=ident(app.name)),
            dbname=database,
        )
    admin = {key: v for key, v in pg.admin_secret().items() if key != "dbname"}
    if admin_dbname:
        admin["dbname"] = database
    master = make_secret(admin, name=f"admin/pg-{secrets.token_hex(3)}", rotation=False)
    arn = make_secret(pg.secret(app.name, app.password, dbname=database, masterarn=master))

    with log_window(pg) as log:
        rotate(arn, rotator(**ALTERNATING))
        rotate(arn, rotator(**ALTERNATING))  # and back: the clone is re-synced

    assert role(pg, app.name) == {"super": False, "login": True, "createrole": False}
    assert role(pg, app.name + "_clone") == {"super": False, "login": True, "createrole": False}
    assert pg.execute("SELECT count(*) FROM public.calls", dbname=database) == [(0,)]
    admin_sessions = log.lines(f"connection authorized: user={pg.admin_user} ")
    assert admin_sessions
    assert all(
        f"database={(admin_dbname and database) or 'postgres'} " in s for s in admin_sessions
    )
    assert_no_plaintext(log, *passwords_of(sm, arn))


# ---------------------------------------------------------------- 3: the guard's server


def rogue_secret(rogue: PostgresServer, victim: PgUser, master: str) -> tuple[dict[str, Any], str]:
    """On its own server (same CA), the attacker makes a role with the victim's name."""
    password = new_password()
    rogue.create_role(victim.name, password)
    return rogue.secret(victim.name, password, masterarn=master), password


@ADMIN_STRATEGIES
def test_a_secret_pointing_at_another_server_never_moves_the_admin(
    sm: Any,
    make_secret: MakeSecret,
    pg: PostgresServer,
    rogue: PostgresServer,
    pg_user: MakeUser,
    pg_admin_secret: str,
    env: dict[str, str],
) -> None:
    """The attacker writes the victim's secret to point at its own server, where its password
    logs in as the victim; the admin secret acts on the real server."""
    victim = pg_user()
    secret, password = rogue_secret(rogue, victim, pg_admin_secret)
    arn = make_secret(secret)

    with log_window(pg) as log:
        error = failed(arn, **env)

    assert pg.logs_in(victim.name, victim.password)  # unchanged on the real server
    assert role(pg, victim.name + "_clone") is None
    assert not alter_role_lines(log, victim.name)
    assert not log.lines("statement: CREATE ROLE")
    assert_no_plaintext(log, password, *passwords_of(sm, arn))
    assert isinstance(error, RotationStateError)
    assert "could not prove they are the same server" in str(error)


def test_a_nonce_echoed_by_another_account_proves_nothing(
    sm: Any,
    make_secret: MakeSecret,
    pg: PostgresServer,
    rogue: PostgresServer,
    pg_user: MakeUser,
    pg_admin_secret: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The attacker sees the guard's application_name on its own server and shows the same
    one on the real server, from its own account there: only the victim's session counts."""
    victim, attacker = pg_user(), pg_user()
    secret, _ = rogue_secret(rogue, victim, pg_admin_secret)
    arn = make_secret(secret)
    monkeypatch.setattr(secrets, "token_hex", lambda n=16: "0" * (2 * n))
    with pg.connect(attacker.name, attacker.password) as echo:
        echo.execute(
            sql.SQL("SET application_name = {}").format(sql.Literal("smrotate-guard-" + "0" * 32))
        )
        error = failed(arn, **VIA_ADMIN)
    assert pg.logs_in(victim.name, victim.password)
    assert isinstance(error, RotationStateError)


def test_the_same_server_under_another_name_is_proven_and_rotates(
    sm: Any, make_secret: MakeSecret, pg_plain: PostgresServer
) -> None:
    """Control: the user's secret says 127.0.0.1 (plaintext), the admin's says localhost
    (verified TLS): different endpoints, one server; the admin's session sees the guard's."""
    user = PgUser(f"same_{secrets.token_hex(4)}", new_password())
    pg_plain.create_role(user.name, user.password)
    master = make_secret(pg_plain.admin_secret(), name="admin/plain", rotation=False)
    secret = pg_plain.secret(user.name, user.password, host="127.0.0.1", ssl=False)
    arn = make_secret({**secret, "masterarn": master})
    rotate(arn, rotator(**VIA_ADMIN))
    assert pg_plain.logs_in(user.name, value(sm, arn)["password"])
    assert not pg_plain.logs_in(user.name, user.password)


# ------------------------------------------------------- 5: clones and privileged accounts


def test_a_clone_pre_created_by_an_attacker_is_refused(
    sm: Any, make_secret: MakeSecret, pg: PostgresServer, pg_user: MakeUser, pg_admin_secret: str
) -> None:
    """An attacker with CREATEROLE makes `victim_clone`, writes the victim's secret with that
    user and its own password, and waits for the admin to make it a member of the victim."""
    victim, attacker = pg_user(), pg_user(None, "CREATEROLE")
    clone, password = victim.name + "_clone", new_password()
    with pg.connect(attacker.name, attacker.password) as conn:
        verifier = scram_verifier(conn, clone, password)
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(ident(clone), sql.Literal(verifier))
        )
    arn = make_secret(pg.secret(clone, password, masterarn=pg_admin_secret))

    with log_window(pg) as log:
        error = failed(arn, **ALTERNATING)

    assert isinstance(error, RotationStateError | TargetError)
    assert "did not create it" in str(error) or "not marked" in str(error)
    assert groups(pg, clone) == set()  # never made a member of the victim
    assert pg.logs_in(victim.name, victim.password)
    assert not alter_role_lines(log, victim.name)
    assert_no_plaintext(log, *passwords_of(sm, arn))


PRIVILEGED_SETUPS = {
    "superuser": ["ALTER ROLE {b} SUPERUSER"],
    "replication": ["ALTER ROLE {b} REPLICATION"],
    "bypassrls": ["ALTER ROLE {b} BYPASSRLS"],
    "member-of-a-superuser-role": ["CREATE ROLE {g} SUPERUSER NOLOGIN", "GRANT {g} TO {b}"],
    "server-program": ["GRANT pg_execute_server_program TO {b}"],
}


@pytest.mark.parametrize("setup", PRIVILEGED_SETUPS.values(), ids=PRIVILEGED_SETUPS.keys())
def test_an_account_with_admin_rights_is_never_cloned(
    sm: Any,
    make_secret: MakeSecret,
    pg: PostgresServer,
    pg_user: MakeUser,
    pg_admin_secret: str,
    setup: list[str],
) -> None:
    """A CREATEROLE attacker makes `x_clone` for a privileged `x`, even with a forged mark
    (PostgreSQL 15 lets CREATEROLE comment on roles), and holds x's secret's write access:
    cloning x would give the attacker's clone x's powers."""
    base, attacker = pg_user(), pg_user(None, "CREATEROLE")
    clone, password, group = base.name + "_clone", new_password(), f"g_{base.name}"
    for statement in setup:
        pg.execute(sql.SQL(statement).format(b=ident(base.name), g=ident(group)))
    with pg.connect(attacker.name, attacker.password) as conn:
        verifier = scram_verifier(conn, clone, password)
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(ident(clone), sql.Literal(verifier))
        )
        conn.execute(
            sql.SQL("COMMENT ON ROLE {} IS {}").format(
                ident(clone), sql.Literal(f"smrotate: clone of {base.name}")
            )
        )
    arn = make_secret(pg.secret(clone, password, masterarn=pg_admin_secret))

    with log_window(pg) as log:
        error = failed(arn, **ALTERNATING)

    assert isinstance(error, RotationStateError)
    assert "admin-level rights" in str(error)
    assert role(pg, clone) == {"super": False, "login": True, "createrole": False}
    assert groups(pg, clone) == set()
    assert pg.logs_in(base.name, base.password)
    assert not alter_role_lines(log, base.name)
    assert_no_plaintext(log, *passwords_of(sm, arn))


def test_a_privileged_account_is_cloned_only_when_named(
    sm: Any, make_secret: MakeSecret, pg: PostgresServer, pg_user: MakeUser, pg_admin_secret: str
) -> None:
    """The refusal names its opt-in: the same legitimate rotation of a REPLICATION role."""
    base = pg_user(None, "REPLICATION")
    arn = make_secret(pg.secret(base.name, base.password, masterarn=pg_admin_secret))
    result = LocalDriver(rotator(**ALTERNATING).handle).rotate(arn)
    assert "REPLICATION" in str(result.error)
    assert role(pg, base.name + "_clone") is None
    allowed = rotator(**ALTERNATING, ROTATION_ALLOW_PRIVILEGED=base.name)
    assert LocalDriver(allowed.handle).rotate(arn, token=result.token).ok
    assert pg.logs_in(base.name + "_clone", value(sm, arn)["password"])
    assert role(pg, base.name + "_clone") == {"super": False, "login": True, "createrole": False}
    # The clone has the base's REPLICATION too: naming both keeps the pair rotating.
    rotate(arn, rotator(**ALTERNATING, ROTATION_ALLOW_PRIVILEGED=f"{base.name},{base.name}_clone"))
    assert pg.logs_in(base.name, value(sm, arn)["password"])


def test_the_admin_never_clones_itself(
    sm: Any, make_secret: MakeSecret, pg: PostgresServer, pg_user: MakeUser, pg_admin_secret: str
) -> None:
    """A CREATEROLE attacker makes `<admin>_clone` and writes a secret naming it: cloning the
    admin would make that role a superuser, resetting the admin would hand over its password."""
    attacker = pg_user(None, "CREATEROLE")
    clone, password = pg.admin_user + "_clone", new_password()
    with pg.connect(attacker.name, attacker.password) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                ident(clone), sql.Literal(scram_verifier(conn, clone, password))
            )
        )
    try:
        arn = make_secret(pg.secret(clone, password, masterarn=pg_admin_secret))
        with log_window(pg) as log:
            error = failed(arn, **ALTERNATING)
        assert isinstance(error, RotationStateError)
        assert role(pg, clone) == {"super": False, "login": True, "createrole": False}
        assert groups(pg, clone) == set()
        assert pg.logs_in(pg.admin_user, pg.admin_password)
        assert not alter_role_lines(log, pg.admin_user)
    finally:
        pg.execute(sql.SQL("DROP ROLE {}").format(ident(clone)))


# ---------------------------------------------------------------- 6: control characters


@pytest.mark.parametrize("field", ["host", "dbname", "username"])
def test_a_nul_in_a_connection_field_never_reaches_libpq(
    sm: Any, make_secret: MakeSecret, pg: PostgresServer, pg_user: MakeUser, field: str
) -> None:
    """A NUL ends libpq's conninfo: `dbname=postgres\\0` drops sslmode=verify-full and the CA
    after it, so 127.0.0.1 (not the certificate's name) would be accepted unverified."""
    victim = pg_user()
    secret = pg.secret(victim.name, victim.password, host="127.0.0.1")
    secret[field] = str(secret[field]) + "\x00"
    arn = make_secret(secret)
    with log_window(pg) as log:
        error = failed(arn)
    assert not log.lines("connection authorized")  # refused before any connection
    assert pg.logs_in(victim.name, victim.password)
    assert isinstance(error, SecretFormatError)
    assert "control character" in str(error)


# --------------------------------------------------------- 7: the user's secret and the admin


@ADMIN_STRATEGIES
def test_the_users_secret_never_chooses_how_the_admin_connects(
    sm: Any, make_secret: MakeSecret, pg_plain: PostgresServer, env: dict[str, str]
) -> None:
    """On a server that also admits plaintext, the user's secret says "ssl": false and names
    its own database; the admin secret names neither: the admin must still use verified TLS
    (its CA from the environment) and the default database."""
    user = PgUser(f"tls_{secrets.token_hex(4)}", new_password())
    pg_plain.create_role(user.name, user.password)
    database = f"db_{user.name}"
    pg_plain.execute(
        sql.SQL("CREATE DATABASE {} OWNER {}").format(ident(database), ident(user.name))
    )
    admin = pg_plain.admin_secret()
    admin = {key: v for key, v in admin.items() if key not in {"dbname", "sslrootcert"}}
    master = make_secret(admin, name=f"admin/plain-{secrets.token_hex(3)}", rotation=False)
    secret = pg_plain.secret(user.name, user.password, ssl=False, dbname=database)
    arn = make_secret({**secret, "masterarn": master})
    with log_window(pg_plain) as log:
        rotate(arn, rotator(**env, DATABASE_CA_BUNDLE=str(pg_plain.ca_file)))
    admin_sessions = log.lines(f"connection authorized: user={pg_plain.admin_user} ")
    assert admin_sessions
    assert all("database=postgres " in line and "SSL enabled" in line for line in admin_sessions)
    assert_no_plaintext(log, *passwords_of(sm, arn))


# ------------------------------------------------------------------------ 8: clone names


def test_long_bases_sharing_a_prefix_get_distinct_clones(
    sm: Any, make_secret: MakeSecret, pg: PostgresServer, pg_user: MakeUser, pg_admin_secret: str
) -> None:
    """Two 62-character names that differ only at the end: cut to fit 63 bytes with the
    suffix, they shared one clone, which then held both users' rights."""
    prefix = "p" + secrets.token_hex(30)[:59]
    first, second = pg_user(prefix + "a1"), pg_user(prefix + "b2")
    clones = []
    for user in (first, second):
        arn = make_secret(pg.secret(user.name, user.password, masterarn=pg_admin_secret))
        rotate(arn, rotator(**ALTERNATING))
        clone = value(sm, arn)["username"]
        digest = hashlib.sha256(user.name.encode()).hexdigest()[:6]
        assert clone == user.name[:50] + "_" + digest + "_clone"
        assert groups(pg, clone) == {(user.name, False)}
        clones.append(clone)
    assert clones[0] != clones[1]


def test_a_clone_marked_for_another_base_is_refused(
    sm: Any, make_secret: MakeSecret, pg: PostgresServer, pg_user: MakeUser, pg_admin_secret: str
) -> None:
    """`b_clone` exists, made by smrotate for another base (marked so): it is not b's."""
    base, other = pg_user(), pg_user()
    clone = base.name + "_clone"
    pg.create_role(clone, new_password())
    pg.execute(
        sql.SQL("COMMENT ON ROLE {} IS {}").format(
            ident(clone), sql.Literal(f"smrotate: clone of {other.name}")
        )
    )
    arn = make_secret(pg.secret(base.name, base.password, masterarn=pg_admin_secret))
    with log_window(pg) as log:
        error = failed(arn, **ALTERNATING)
    assert isinstance(error, RotationStateError | TargetError)
    assert groups(pg, clone) == set()
    assert pg.logs_in(base.name, base.password)
    assert not alter_role_lines(log, clone)


# ---------------------------------------------------------------- 10: the clone is exact


@pytest.fixture
def rotated_pair(
    sm: Any, make_secret: MakeSecret, pg: PostgresServer, pg_user: MakeUser, pg_admin_secret: str
) -> tuple[PgUser, str, str]:
    """A base rotated once: AWSCURRENT is its clone. (base, clone, secret ARN)."""
    base = pg_user()
    arn = make_secret(pg.secret(base.name, base.password, masterarn=pg_admin_secret))
    rotate(arn, rotator(**ALTERNATING))
    assert value(sm, arn)["username"] == base.name + "_clone"
    return base, base.name + "_clone", arn


def test_nologin_on_the_base_disables_the_clone(
    sm: Any, pg: PostgresServer, rotated_pair: tuple[PgUser, str, str]
) -> None:
    """The operator disables the base; the app carries on through the clone, which acts as the
    base. The next rotation must disable the clone too (and then cannot pass testSecret)."""
    base, clone, arn = rotated_pair
    pg.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(ident(base.name)))
    result = LocalDriver(rotator(**ALTERNATING).handle).rotate(arn)
    assert not result.ok
    assert role(pg, clone) == {"super": False, "login": False, "createrole": False}
    assert role(pg, base.name) == {"super": False, "login": False, "createrole": False}
    assert value(sm, arn)["username"] == clone  # AWSCURRENT never moved


def test_rights_granted_to_the_clone_directly_are_revoked(
    sm: Any, make_secret: MakeSecret, pg: PostgresServer, pg_user: MakeUser,
    rotated_pair: tuple[PgUser, str, str],
) -> None:  # fmt: skip
    """Rights given to the clone itself (a table, a database, a role, ADMIN OPTION on the base,
    a member, its own setting) are the clone's alone: after the next rotation only the base's
    rights remain, through membership."""
    base, clone, arn = rotated_pair
    outsider, extra = pg_user(), f"extra_{base.name}"
    table = f"payroll_{base.name}"
    for statement in (
        "CREATE TABLE {t} (salary int)",
        "GRANT SELECT ON {t} TO {c}",
        "GRANT CREATE ON DATABASE postgres TO {c}",
        "CREATE ROLE {x} NOLOGIN",
        "GRANT {x} TO {c}",
        "GRANT {b} TO {c} WITH ADMIN OPTION",
        "GRANT {c} TO {o}",
        "ALTER ROLE {c} SET work_mem = '64MB'",
    ):
        pg.execute(
            sql.SQL(statement).format(
                t=ident(table),
                c=ident(clone),
                x=ident(extra),
                b=ident(base.name),
                o=ident(outsider.name),
            )
        )
    rotate(arn, rotator(**ALTERNATING))
    assert pg.execute(
        "SELECT has_table_privilege(%s, %s, 'SELECT'), has_database_privilege(%s, 'postgres', "
        "'CREATE')",
        (clone, table, clone),
    ) == [(False, False)]
    assert groups(pg, clone) == {(base.name, False)}
    assert members(pg, clone) == set()
    assert setconfig(pg, clone) == [("", [f"role={base.name}"])]
    assert pg.logs_in(base.name, value(sm, arn)["password"])


@pytest.mark.parametrize("where", ["owns-a-table", "rights-in-another-database"])
def test_a_clone_that_owns_objects_or_has_rights_elsewhere_is_refused(
    sm: Any, pg: PostgresServer, rotated_pair: tuple[PgUser, str, str], where: str
) -> None:
    """The clone's session drops its role (SET ROLE NONE) and creates a table as itself, or
    someone grants it a table in another database: the admin cannot undo that from here
    without dropping data, so it refuses with a clear error and changes nothing."""
    base, clone, arn = rotated_pair
    password = value(sm, arn)["password"]
    if where == "owns-a-table":
        schema = ident(f"s_{base.name}")
        pg.execute(sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(schema, ident(base.name)))
        with pg.connect(clone, password) as conn:  # CREATE on the base's schema, inherited
            conn.execute("SET ROLE NONE")
            conn.execute(sql.SQL("CREATE TABLE {}.mine (n int)").format(schema))
    else:
        database = f"db_{base.name}"
        pg.execute(sql.SQL("CREATE DATABASE {}").format(ident(database)))
        pg.execute("CREATE TABLE t (n int)", dbname=database)
        pg.execute(sql.SQL("GRANT SELECT ON t TO {}").format(ident(clone)), dbname=database)
    error = failed(arn, **ALTERNATING)
    assert isinstance(error, TargetError)
    assert "owns objects" in str(error) if where == "owns-a-table" else "rights" in str(error)
    assert pg.logs_in(base.name, base.password)  # the base's password was never reset
    assert pg.logs_in(clone, password)


def test_settings_lists_are_copied_exactly(
    sm: Any, make_secret: MakeSecret, pg: PostgresServer, pg_user: MakeUser, pg_admin_secret: str
) -> None:
    """List settings are stored as `name=a, "B c"` text: the clone's rows equal the base's."""
    base = pg_user()
    for statement in (
        """ALTER ROLE {b} SET search_path TO "$user", "Odd ""q"" , name", public""",
        "ALTER ROLE {b} SET temp_tablespaces TO ''",
        "ALTER ROLE {b} IN DATABASE postgres SET \"DateStyle\" TO 'ISO, DMY'",
        "ALTER ROLE {b} SET app.list TO 'a, \"b\"'",
    ):
        pg.execute(sql.SQL(statement).format(b=ident(base.name)))
    arn = make_secret(pg.secret(base.name, base.password, masterarn=pg_admin_secret))
    rotate(arn, rotator(**ALTERNATING))
    clone = base.name + "_clone"
    want = {db: sorted(config) for db, config in setconfig(pg, base.name)}
    want[""] = sorted([*want[""], f"role={base.name}"])
    assert {db: sorted(config) for db, config in setconfig(pg, clone)} == want
    with log_window(pg) as log:
        rotate(arn, rotator(**ALTERNATING))
    assert [line for line in log.lines("statement: ALTER ROLE") if " SET " in line] == []
