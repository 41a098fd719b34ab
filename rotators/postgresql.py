"""Rotates PostgreSQL and Aurora PostgreSQL passwords, with the three ROTATION_STRATEGY values.

psycopg is imported only by the steps that talk to the database. TLS is verify-full unless the
secret says `"ssl": false`; `session_facts` reports libpq's own view of it (`ssl_in_use`: behind
a pooler, `pg_stat_ssl` would describe another hop). Passwords are hashed here (SCRAM-SHA-256).

The admin never evaluates what a role controls: sessions pin `search_path` to `pg_catalog,
pg_temp` at startup, every table, function, cast and `=` below is `pg_catalog`-qualified, and
the base's settings are copied as data (`ALTER ROLE ... SET name TO <literals>`).

`ensure_clone` marks the clone it creates (`COMMENT ON ROLE ... IS 'smrotate: clone of <base>'`)
and refuses an unmarked one. On PostgreSQL 15 a CREATEROLE role could forge the mark, but it
can already grant itself any non-superuser role; what it cannot grant makes a role privileged
(`account_facts`): SUPERUSER, CREATEROLE, REPLICATION, BYPASSRLS, its own or those of a role it
can SET ROLE to, and membership in pg_execute_server_program, pg_read_server_files or
pg_write_server_files. PostgreSQL 16+ (coded by version, untested: the suite runs 15): a clone
on which a non-superuser other than the admin holds ADMIN OPTION is refused, revokes name their
grantor. After each rotation the clone equals the base (see `ensure_clone`).
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from smrotate import redaction
from smrotate.database import (
    ConnectionSettings,
    DatabaseRotator,
    SessionFacts,
    classify_failure,
    target_error,
)
from smrotate.errors import Failure, SecretFormatError, TargetError
from smrotate.store import Secret
from smrotate.strategies import AccountFacts

if TYPE_CHECKING:
    import psycopg

MAX_NAME_BYTES = 63  # NAMEDATALEN - 1: longer names are silently truncated by the server
PINNED = "-c search_path=pg_catalog,pg_temp"  # libpq `options`: before any statement runs
MARK = "smrotate: clone of "
# Every `=` is OPERATOR(pg_catalog.=): no operator a role planted can capture it.
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


class PostgreSQLRotator(DatabaseRotator["psycopg.Connection[Any]"]):
    """PostgreSQL passwords, the three strategies; sessions are autocommit psycopg connections."""

    engines: ClassVar[frozenset[str]] = frozenset({"postgres", "aurora-postgresql"})
    driver_module: ClassVar[str] = "psycopg"
    driver_extra: ClassVar[str] = "postgres"
    default_port: ClassVar[int] = 5432
    default_dbname: ClassVar[str | None] = "postgres"
    max_username_length: ClassVar[int] = MAX_NAME_BYTES

    def check_secret(self, value: Secret, what: str) -> None:
        """The database fields, and a user name PostgreSQL keeps whole (63 bytes at most)."""
        super().check_secret(value, what)
        size = len(str(value["username"]).encode())
        if size > MAX_NAME_BYTES:
            raise SecretFormatError(
                f"{what} has a 'username' of {size} bytes in UTF-8; PostgreSQL role names hold "
                f"at most {MAX_NAME_BYTES} (for alternating users, lower USERNAME_CHARACTER_LIMIT)"
            )

    @contextmanager
    def connect(self, settings: ConnectionSettings) -> Iterator[psycopg.Connection[Any]]:
        """An autocommit session over verified TLS (or plaintext when the secret says so)."""
        import psycopg

        verify = settings.tls.enabled
        try:
            conn = psycopg.connect(
                host=settings.host,
                port=settings.port,
                user=settings.username,
                password=settings.password,
                dbname=settings.dbname,
                connect_timeout=max(2, math.ceil(settings.connect_timeout)),  # libpq's minimum
                application_name="smrotate",
                options=PINNED,
                sslmode="verify-full" if verify else "disable",
                sslrootcert=settings.tls.ca_path() if verify else None,
                autocommit=True,
            )
        except psycopg.Error as exc:
            detail = " ".join(str(exc).split())
            if "no encryption" in detail:
                detail += ' (the server requires TLS here: remove "ssl": false from the secret)'
            failure = classify_failure(detail, **CONNECT_ERRORS)
            raise target_error(settings, failure, detail) from None
        with conn:
            yield conn

    def execute(
        self, session: psycopg.Connection[Any], statement: Any, params: Sequence[Any] = ()
    ) -> list[tuple[Any, ...]]:
        """Run one statement; TargetError (privilege, network or other) naming the session."""
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

    def session_facts(self, session: psycopg.Connection[Any]) -> SessionFacts:
        """session_user, and whether libpq's connection runs over TLS. Read-only."""
        rows = self.execute(session, "SELECT session_user")
        return SessionFacts(str(rows[0][0]), None, bool(session.pgconn.ssl_in_use))

    def prove_same_server(
        self, own: psycopg.Connection[Any], admin: psycopg.Connection[Any], username: str
    ) -> bool:
        """`own` takes a random application_name; True when `admin`'s pg_stat_activity (every
        role sees application_name) lists it for a session of `username`."""
        from psycopg import sql

        nonce = f"smrotate-guard-{secrets.token_hex(16)}"
        self.execute(own, sql.SQL("SET application_name TO {}").format(sql.Literal(nonce)))
        return bool(self.execute(admin, SEEN, (nonce, username)))

    def account_facts(self, admin: psycopg.Connection[Any], username: str) -> AccountFacts:
        """Whether `username` exists, up to three reasons it is privileged, and its mark."""
        reasons: list[str] = []
        rows = self.execute(admin, REACH, (username,))
        for name, *powers in rows:
            via = "" if name == username else f" through membership in {name!r}"
            reasons += [power + via for power, on in zip(POWERS, powers, strict=True) if on]
            reasons += [f"member of {name}"] if name in SERVER_ROLES else []
        mark = str(self.execute(admin, ROLE, (username,))[0][9] or "") if rows else ""
        return AccountFacts(
            exists=bool(rows),
            privileged=", ".join(reasons[:3]) or None,
            clone_of=mark.removeprefix(MARK) if mark.startswith(MARK) else None,
        )

    def set_password(self, admin: psycopg.Connection[Any], username: str, password: str) -> None:
        """ALTER ROLE ... PASSWORD '<SCRAM-SHA-256 verifier made here>'. Idempotent."""
        from psycopg import sql

        verifier = admin.pgconn.encrypt_password(password.encode(), b"", b"scram-sha-256").decode()
        redaction.register(verifier)
        statement = sql.SQL("ALTER ROLE {} PASSWORD {}")
        self.execute(admin, statement.format(sql.Identifier(username), sql.Literal(verifier)))

    def change_own_password(
        self, session: psycopg.Connection[Any], secret: Secret, password: str
    ) -> None:
        """The logged-in user sets its own password (any role may). Idempotent."""
        self.set_password(session, str(secret["username"]), password)

    def ensure_clone(
        self, admin: psycopg.Connection[Any], base: str, clone: str, password: str
    ) -> bool:
        """Create and mark `clone` (with `password`), or check its mark; then make it equal
        `base`: the same attributes, LOGIN or NOLOGIN included (a base disabled on purpose
        disables its clone), `_sync_memberships`, `_sync_settings`. A clone that owns anything
        or has direct rights in another database is refused; its direct rights here and on
        shared objects go with DROP OWNED (it owns nothing). One transaction: a crash or a
        refusal leaves the clone as it was. Idempotent; on an unchanged pair it only reads."""
        from psycopg.sql import SQL, Identifier, Literal

        def attributes(row: tuple[Any, ...]) -> tuple[Any, ...]:  # VALID UNTIL infinity: none
            return (*row[:7], None if row[7] == "infinity" else row[7], row[8])

        name = Identifier(clone)
        with admin.transaction():
            found, rows = self.execute(admin, ROLE, (base,)), self.execute(admin, ROLE, (clone,))
            if not found:
                raise TargetError(f"role {base!r} does not exist, so it cannot be cloned")
            if rows and rows[0][9] != MARK + base:
                raise TargetError(
                    f"role {clone!r} exists but is not marked as smrotate's clone of {base!r}: "
                    f"refusing it (if smrotate made it: COMMENT ON ROLE ... IS '{MARK}{base}')"
                )
            want, have = attributes(found[0]), attributes(rows[0]) if rows else NEW_ROLE
            # Only what differs: a non-superuser admin may not even name NOSUPERUSER.
            changes = SQL(" ").join(
                SQL(("" if value else "NO") + clause)
                if isinstance(value, bool)
                else SQL(clause + " {}").format(Literal("infinity" if value is None else value))
                for clause, value, old in zip(CLAUSES, want, have, strict=True)
                if value != old
            )
            if not rows:
                self.execute(admin, SQL("CREATE ROLE {} {}").format(name, changes))
                mark = SQL("COMMENT ON ROLE {} IS {}").format(name, Literal(MARK + base))
                self.execute(admin, mark)
                self.set_password(admin, clone, password)
            else:
                self._refuse_own_objects(admin, base, clone)
                if want != have:
                    self.execute(admin, SQL("ALTER ROLE {} {}").format(name, changes))
            self._sync_memberships(admin, base, clone)
            self._sync_settings(admin, base, clone)
        return not rows

    def _refuse_own_objects(self, admin: psycopg.Connection[Any], base: str, clone: str) -> None:
        """TargetError when `clone` owns something or has direct rights in another database;
        else DROP OWNED BY it, which revokes its direct rights here and on shared objects."""
        from psycopg.sql import SQL, Identifier

        rows = self.execute(admin, DEPENDS, (clone,))
        for deptype, here, dbname in rows:
            if deptype == "o" or not here:
                what = "owns objects" if deptype == "o" else "holds rights granted to it"
                raise TargetError(
                    f"role {clone!r}, the clone of {base!r}, {what} in "
                    f"{f'database {dbname!r}' if dbname else 'the cluster'}; a clone owns nothing "
                    "and has only its base's rights: there, REASSIGN OWNED BY the clone TO the "
                    "base, then DROP OWNED BY the clone"
                )
        if rows:
            self.execute(admin, SQL("DROP OWNED BY {}").format(Identifier(clone)))

    def _sync_memberships(self, admin: psycopg.Connection[Any], base: str, clone: str) -> None:
        """The clone is a member of `base` without ADMIN OPTION and of nothing else, and no role
        but the admin is a member of the clone (revoked with CASCADE)."""
        from psycopg.sql import SQL, Identifier

        pg16, missing = admin.info.server_version >= 160000, True
        for group, member, option, superuser, grantor in self.execute(
            admin, MEMBERSHIPS, (clone, clone)
        ):
            if pg16 and group == clone and option and not superuser:
                raise TargetError(
                    f"role {member!r} holds ADMIN OPTION on {clone!r}, so it could have made or "
                    "marked it: refusing that clone (revoke the option, or drop the clone)"
                )
            keep = group == base and member == clone
            missing &= not keep
            if not keep or option:
                by = SQL(" GRANTED BY {}").format(Identifier(grantor)) if pg16 else SQL("")
                revoke = SQL("REVOKE {}{} FROM {}{} CASCADE").format(
                    SQL("ADMIN OPTION FOR " if keep else ""), Identifier(group),
                    Identifier(member), by,
                )  # fmt: skip
                self.execute(admin, revoke)
        if missing:
            self.execute(admin, SQL("GRANT {} TO {}").format(Identifier(base), Identifier(clone)))

    def _sync_settings(self, admin: psycopg.Connection[Any], base: str, clone: str) -> None:
        """Give `clone` the per-role settings of `base` (per database too), plus `role` = base,
        as literals: the admin's session never evaluates them."""
        from psycopg.sql import SQL, Identifier, Literal

        def settings(role: str) -> dict[tuple[str, str], tuple[str, ...]]:
            rows = self.execute(admin, SETTINGS, (role,))
            entries = [(db, *entry.partition("=")) for db, entry in rows]
            return {(db, key): setting_literals(key, value) for db, key, _, value in entries}

        want = {key: value for key, value in settings(base).items() if key[1] != "role"}
        want["", "role"] = (base,)
        have = settings(clone)
        for db, key in sorted(want.keys() | have.keys()):
            if (value := want.get((db, key))) == have.get((db, key)):
                continue
            scope = SQL("IN DATABASE {}").format(Identifier(db)) if db else SQL("")
            role = SQL("ALTER ROLE {} {} ").format(Identifier(clone), scope)
            guc = Identifier(*key.split("."))
            if value is None:
                self.execute(admin, role + SQL("RESET {}").format(guc))
            else:
                literals = SQL(", ").join(Literal(item) for item in value)
                self.execute(admin, role + SQL("SET {} TO {}").format(guc, literals))


lambda_handler = PostgreSQLRotator.handler()
