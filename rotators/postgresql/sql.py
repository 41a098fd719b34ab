"""PostgreSQL's SQL for the rotator: every statement, and the one function that runs them.

The admin never evaluates what a role controls: sessions pin `search_path` to `pg_catalog,
pg_temp` at startup (`PINNED`), and every table, function, cast and `=` here is
`pg_catalog`-qualified (`OPERATOR(pg_catalog.=)`: no operator a role planted can capture it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from smrotate import redaction
from smrotate.errors import Failure, TargetError

if TYPE_CHECKING:
    import psycopg

MAX_NAME_BYTES = 63  # NAMEDATALEN - 1: longer names are silently truncated by the server
PINNED = "-c search_path=pg_catalog,pg_temp"  # libpq `options`: before any statement runs
MARK = "smrotate: clone of "
# ROLE: what a clone copies from its base (pg_roles columns, in CLAUSES' order); the mark.
ROLE = """SELECT r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb, r.rolreplication,
    r.rolbypassrls, r.rolconnlimit, r.rolvaliduntil::pg_catalog.text, r.rolcanlogin,
    (SELECT d.description FROM pg_catalog.pg_shdescription d
     WHERE d.objoid OPERATOR(pg_catalog.=) r.oid
     AND d.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_authid'::pg_catalog.regclass)
    FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) %s"""
CLAUSES = ("SUPERUSER", "INHERIT", "CREATEROLE", "CREATEDB", "REPLICATION", "BYPASSRLS",
           "CONNECTION LIMIT", "VALID UNTIL", "LOGIN")  # fmt: skip
NEW_ROLE = (False, True, False, False, False, False, -1, None, False)  # CREATE ROLE's defaults
# REACH: each role `u` can SET ROLE to (itself first) and its powers.
REACH = """SELECT a.rolname, a.rolsuper, a.rolcreaterole, a.rolreplication, a.rolbypassrls
    FROM pg_catalog.pg_roles u JOIN pg_catalog.pg_roles a
    ON pg_catalog.pg_has_role(u.oid, a.oid, 'MEMBER') WHERE u.rolname OPERATOR(pg_catalog.=) %s
    ORDER BY a.oid OPERATOR(pg_catalog.<>) u.oid, a.rolname"""
POWERS = ("SUPERUSER", "CREATEROLE", "REPLICATION", "BYPASSRLS")
SERVER_ROLES = ("pg_execute_server_program", "pg_read_server_files", "pg_write_server_files")
# MEMBERSHIPS: of the clone and in the clone, but the admin's own (PG16's creator grant).
MEMBERSHIPS = """SELECT g.rolname, u.rolname, m.admin_option, u.rolsuper,
    pg_catalog.pg_get_userbyid(m.grantor) FROM pg_catalog.pg_auth_members m
    JOIN pg_catalog.pg_roles g ON g.oid OPERATOR(pg_catalog.=) m.roleid
    JOIN pg_catalog.pg_roles u ON u.oid OPERATOR(pg_catalog.=) m.member
    WHERE (g.rolname OPERATOR(pg_catalog.=) %s OR u.rolname OPERATOR(pg_catalog.=) %s)
    AND u.rolname OPERATOR(pg_catalog.<>) session_user"""
# DEPENDS: what the clone owns ('o') or is named in (ACLs, policies), in any database.
DEPENDS = """SELECT s.deptype::pg_catalog.text, s.dbid OPERATOR(pg_catalog.=) 0::pg_catalog.oid
    OR d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database(), d.datname
    FROM pg_catalog.pg_shdepend s JOIN pg_catalog.pg_roles r
    ON r.oid OPERATOR(pg_catalog.=) s.refobjid
    LEFT JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) s.dbid
    WHERE s.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_authid'::pg_catalog.regclass
    AND r.rolname OPERATOR(pg_catalog.=) %s"""
SETTINGS = """SELECT coalesce(d.datname, ''), pg_catalog.unnest(s.setconfig)
    FROM pg_catalog.pg_db_role_setting s
    JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) s.setrole
    LEFT JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) s.setdatabase
    WHERE r.rolname OPERATOR(pg_catalog.=) %s"""
SEEN = """SELECT 1 FROM pg_catalog.pg_stat_activity a WHERE
    a.application_name OPERATOR(pg_catalog.=) %s AND a.usename OPERATOR(pg_catalog.=) %s"""
# Settings stored as lists of quoted names (pg_dump's variable_is_guc_list_quote) are copied
# element by element, each one a literal; any other value is one literal, as stored.
LIST_QUOTE = {"local_preload_libraries", "search_path", "session_preload_libraries",
              "temp_tablespaces", "shared_preload_libraries",
              "unix_socket_directories"}  # fmt: skip
ELEMENT = re.compile(r'\s*(?:"((?:[^"]|"")*)"|([^",\s]+))\s*(,|$)')
# libpq gives no SQLSTATE for connection errors: their wording says what failed.
CONNECT_ERRORS = {
    "tls": ["no encryption"],  # no pg_hba.conf line admits this user without TLS
    "authentication": ["authentication failed", "not permitted to log in"],
    "privilege": ["no pg_hba.conf entry", "permission denied"],
}


def setting_literals(name: str, value: str) -> tuple[str, ...]:
    """The literals `SET name TO ...` needs to store `value` (a setconfig entry) again as is."""
    items, pos = [], 0
    while name.lower() in LIST_QUOTE and pos < len(value) and (m := ELEMENT.match(value, pos)):
        items.append(m[2] if m[1] is None else m[1].replace('""', '"'))
        pos = m.end() if m[3] else len(value)
    return tuple(items) if items and pos == len(value) else (value,)


def run(
    session: psycopg.Connection[Any], statement: Any, params: Sequence[Any] = ()
) -> list[tuple[Any, ...]]:
    """Run one statement; its rows. TargetError (privilege, network or other) naming the
    session's user and server, never the statement's values."""
    import psycopg

    try:
        with session.cursor() as cursor:
            cursor.execute(statement, params or None)
            return cursor.fetchall() if cursor.description else []
    except psycopg.Error as exc:
        lost = isinstance(exc, psycopg.OperationalError) and not exc.sqlstate
        failure = Failure.NETWORK if lost else Failure.OTHER
        failure = Failure.PRIVILEGE if exc.sqlstate == "42501" else failure
        info, detail = session.info, redaction.scrub(" ".join(str(exc).split()))
        raise TargetError(
            f"running SQL as user {info.user!r} at {info.host}:{info.port}: {detail}", failure
        ) from None
