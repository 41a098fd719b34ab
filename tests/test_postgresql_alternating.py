"""Alternating users on the suite's PostgreSQL: the clone, its rights, its attributes and
settings, objects it creates, reruns and crashes inside the clone's creation."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from conftest import MakeSecret
from helpers import new_token, rotate, step_event, value
from pg_fixtures import PgUser
from pg_helpers import alter_role_lines, log_window, rotator
from psycopg import sql

from smrotate.errors import TargetError
from smrotate.testing.postgres import PostgresServer

pytestmark = pytest.mark.postgres
MakeUser = Callable[..., PgUser]
ALTERNATING = {"ROTATION_STRATEGY": "alternating-users"}


def ident(name: str) -> sql.Identifier:
    return sql.Identifier(name)


def role_row(pg: PostgresServer, name: str) -> tuple[Any, ...]:
    rows = pg.execute(
        "SELECT rolcanlogin, rolcreatedb, rolinherit, rolconnlimit, rolvaliduntil::text "
        "FROM pg_roles WHERE rolname = %s",
        (name,),
    )
    return rows[0] if rows else ()


def role_settings(pg: PostgresServer, name: str) -> list[tuple[str, str]]:
    return sorted(
        pg.execute(
            "SELECT coalesce(d.datname, ''), unnest(s.setconfig) FROM pg_db_role_setting s "
            "JOIN pg_roles r ON r.oid = s.setrole LEFT JOIN pg_database d "
            "ON d.oid = s.setdatabase WHERE r.rolname = %s",
            (name,),
        )
    )


def test_alternating_users_rights_objects_and_previous_credentials(
    sm: Any, make_secret: MakeSecret, pg: PostgresServer, pg_user: MakeUser, pg_admin_secret: str
) -> None:
    base = pg_user()
    clone = base.name + "_clone"
    schema, report = f"s_{base.name}", f"report_{base.name}"
    pg.execute(sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(ident(schema), ident(base.name)))
    pg.execute(sql.SQL("CREATE TABLE {} (n int)").format(ident(report)))  # owned by the admin
    pg.execute(sql.SQL("INSERT INTO {} VALUES (42)").format(ident(report)))
    pg.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(ident(report), ident(base.name)))
    arn = make_secret(pg.secret(base.name, base.password, masterarn=pg_admin_secret))
    rot = rotator(**ALTERNATING)

    with log_window(pg) as log:
        rotate(arn, rot)
    first = value(sm, arn)
    assert first["username"] == clone
    assert len(log.lines("statement: CREATE ROLE")) == 1
    assert len(alter_role_lines(log, clone)) == 1  # at its creation, then never again
    assert pg.logs_in(clone, first["password"])
    assert pg.logs_in(base.name, base.password)  # the previous credentials keep working

    with pg.connect(clone, first["password"]) as conn:
        assert conn.execute("SELECT session_user, current_user").fetchone() == (clone, base.name)
        assert conn.execute(sql.SQL("SELECT n FROM {}").format(ident(report))).fetchone() == (42,)
        conn.execute(sql.SQL("CREATE TABLE {}.made_by_clone (n int)").format(ident(schema)))
        conn.execute(sql.SQL("INSERT INTO {}.made_by_clone VALUES (1)").format(ident(schema)))
    with pg.connect(base.name, base.password) as conn:
        table = sql.SQL("{}.made_by_clone").format(ident(schema))
        conn.execute(sql.SQL("INSERT INTO {} VALUES (2)").format(table))
        assert conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone() == (2,)
        conn.execute(sql.SQL("DROP TABLE {}").format(table))  # only the owner may

    with log_window(pg) as log:
        rotate(arn, rot)
    second = value(sm, arn)
    assert second["username"] == base.name
    assert pg.logs_in(base.name, second["password"])
    assert not pg.logs_in(base.name, base.password)
    assert pg.logs_in(clone, first["password"])  # until the next rotation
    assert not log.lines("statement: CREATE ROLE")
    assert len(alter_role_lines(log, base.name)) == 1

    rotate(arn, rot)
    third = value(sm, arn)
    assert third["username"] == clone
    assert pg.logs_in(clone, third["password"])
    assert not pg.logs_in(clone, first["password"])
    assert pg.logs_in(base.name, second["password"])


def test_clone_copies_attributes_and_settings_and_resyncs_them(
    sm: Any, make_secret: MakeSecret, pg: PostgresServer, pg_user: MakeUser, pg_admin_secret: str
) -> None:
    base = pg_user(None, "CREATEDB", "NOINHERIT")
    clone, role = base.name + "_clone", ident(base.name)
    for statement in (
        "ALTER ROLE {} CONNECTION LIMIT 7 VALID UNTIL '2999-01-01 00:00:00+00'",
        'ALTER ROLE {} SET search_path TO app, "My Schema", public',
        "ALTER ROLE {} SET work_mem = '8MB'",
        "ALTER ROLE {} IN DATABASE postgres SET statement_timeout = '30s'",
        "ALTER ROLE {} SET smrotate.tenant = 'acme, inc'",
    ):
        pg.execute(sql.SQL(statement).format(role))
    arn = make_secret(pg.secret(base.name, base.password, masterarn=pg_admin_secret))
    rot = rotator(**ALTERNATING)
    rotate(arn, rot)

    assert role_row(pg, clone) == (True, *role_row(pg, base.name)[1:])
    assert role_settings(pg, clone) == sorted(
        [*role_settings(pg, base.name), ("", f"role={base.name}")]
    )
    password = value(sm, arn)["password"]
    with pg.connect(clone, password) as conn:
        shown = conn.execute("SHOW search_path").fetchone()
        assert shown == ('app, "My Schema", public',)
        assert conn.execute("SELECT current_setting('smrotate.tenant')").fetchone() == (
            "acme, inc",
        )
        assert conn.execute("SHOW statement_timeout").fetchone() == ("30s",)

    pg.execute(
        sql.SQL(
            "ALTER ROLE {} NOCREATEDB INHERIT CONNECTION LIMIT 3 VALID UNTIL 'infinity'"
        ).format(role)
    )
    pg.execute(sql.SQL("ALTER ROLE {} RESET work_mem").format(role))
    pg.execute(sql.SQL("ALTER ROLE {} SET search_path TO public").format(role))
    rotate(arn, rot)  # back to the base user: the admin re-syncs the clone on the way
    assert role_row(pg, clone) == (True, False, True, 3, "infinity") == role_row(pg, base.name)
    assert role_settings(pg, clone) == sorted(
        [*role_settings(pg, base.name), ("", f"role={base.name}")]
    )

    with log_window(pg) as log:
        rotate(arn, rot)  # nothing changed on the base: only the clone's password is set
    assert [line for line in log.lines("statement: ALTER ROLE") if "PASSWORD" not in line] == []
    assert len(alter_role_lines(log, clone)) == 1
    assert not log.lines("statement: GRANT")


def test_set_secret_again_changes_nothing_twice(
    sm: Any, make_secret: MakeSecret, pg: PostgresServer, pg_user: MakeUser, pg_admin_secret: str
) -> None:
    base = pg_user()
    arn = make_secret(pg.secret(base.name, base.password, masterarn=pg_admin_secret))
    rot = rotator(**ALTERNATING)
    rotate(arn, rot)
    token = new_token()
    with log_window(pg) as log:
        for step in ("createSecret", "setSecret", "setSecret", "testSecret", "setSecret"):
            rot.handle(step_event(step, arn, token))
    assert len(alter_role_lines(log, base.name)) == 1
    assert not log.lines("statement: CREATE ROLE")
    assert pg.logs_in(base.name, value(sm, arn, "AWSPENDING")["password"])


@pytest.mark.parametrize(
    ("name", "clone"),
    [
        ('o\'brien "the" app', 'o\'brien "the" app_clone'),
        ("Grüße Ünï", "Grüße Ünï_clone"),
        ("v" * 63, "v" * 50 + "_" + hashlib.sha256(b"v" * 63).hexdigest()[:6] + "_clone"),
    ],
    ids=["quotes", "non-ascii", "63"],
)
def test_alternating_awkward_names(
    sm: Any,
    make_secret: MakeSecret,
    pg: PostgresServer,
    pg_user: MakeUser,
    pg_admin_secret: str,
    name: str,
    clone: str,
) -> None:
    base = pg_user(name)
    arn = make_secret(pg.secret(base.name, base.password, masterarn=pg_admin_secret))
    rot = rotator(**ALTERNATING)
    rotate(arn, rot)
    assert value(sm, arn)["username"] == clone
    assert pg.logs_in(clone, value(sm, arn)["password"])
    rotate(arn, rot)
    assert value(sm, arn)["username"] == name
    assert pg.logs_in(name, value(sm, arn)["password"])


def test_a_crash_inside_the_clone_creation_leaves_no_half_made_clone(
    sm: Any,
    make_secret: MakeSecret,
    pg: PostgresServer,
    pg_user: MakeUser,
    pg_admin_secret: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = pg_user()
    clone = base.name + "_clone"
    arn = make_secret(pg.secret(base.name, base.password, masterarn=pg_admin_secret))
    rot = rotator(**ALTERNATING)
    execute = psycopg.Cursor.execute

    def crash_at_grant(cursor: Any, statement: Any, params: Any = None, **kwargs: Any) -> Any:
        if "GRANT" in str(
            statement if isinstance(statement, str) else statement.as_string(cursor.connection)
        ):
            raise TargetError("injected crash before GRANT")
        return execute(cursor, statement, params, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", crash_at_grant)
    token = new_token()
    rot.handle(step_event("createSecret", arn, token))
    with pytest.raises(TargetError, match="injected crash"):
        rot.handle(step_event("setSecret", arn, token))
    assert role_row(pg, clone) == ()  # rolled back: CREATE ROLE happened in the same transaction
    monkeypatch.setattr(psycopg.Cursor, "execute", execute)
    for step in ("setSecret", "testSecret", "finishSecret"):
        rot.handle(step_event(step, arn, token))
    assert pg.logs_in(clone, value(sm, arn)["password"])
    assert role_settings(pg, clone) == [("", f"role={base.name}")]
