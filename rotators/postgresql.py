"""Rotates PostgreSQL and Aurora PostgreSQL passwords, with the three ROTATION_STRATEGY values.

psycopg is imported only by the steps that talk to the database. TLS is verify-full unless the
secret says `"ssl": false`. Passwords are hashed here (SCRAM-SHA-256): the server and its log
only see the verifier. The alternating users' clone logs in, is a member of the original, copies
its attributes and per-role settings, and has `role` set to the original, so its sessions act
as the original and what it creates belongs to the original.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from framework import redaction
from framework.database import ConnectionSettings, DatabaseRotator, classify_failure, target_error
from framework.errors import Failure, SecretFormatError, TargetError
from framework.store import Secret

if TYPE_CHECKING:
    import psycopg

MAX_NAME_BYTES = 63  # NAMEDATALEN - 1: longer names are silently truncated by the server
# What a clone copies from its original: pg_roles columns and their CREATE/ALTER ROLE clauses.
ATTRIBUTES = """SELECT rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolreplication,
    rolbypassrls, rolconnlimit, nullif(rolvaliduntil, 'infinity')::text, rolcanlogin
    FROM pg_roles WHERE rolname = %s"""
FLAGS = ("SUPERUSER", "INHERIT", "CREATEROLE", "CREATEDB", "REPLICATION", "BYPASSRLS")
CLAUSES = (*FLAGS, "CONNECTION LIMIT", "VALID UNTIL")
NEW_ROLE = (False, True, False, False, False, False, -1, None, False)  # CREATE ROLE's defaults
SETTINGS = """SELECT coalesce(d.datname, ''), unnest(s.setconfig) FROM pg_db_role_setting s
    JOIN pg_roles r ON r.oid = s.setrole LEFT JOIN pg_database d ON d.oid = s.setdatabase
    WHERE r.rolname = %s"""
# libpq gives no SQLSTATE for connection errors: their wording says what failed.
CONNECT_ERRORS = {
    "tls": ["no encryption"],  # no pg_hba.conf line admits this user without TLS
    "authentication": ["authentication failed", "not permitted to log in"],
    "privilege": ["no pg_hba.conf entry", "permission denied"],
}
MEMBER = """SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
    JOIN pg_roles u ON u.oid = m.member WHERE g.rolname = %s AND u.rolname = %s"""


class PostgreSQLRotator(DatabaseRotator["psycopg.Connection[Any]"]):
    """PostgreSQL passwords, the three strategies; sessions are autocommit psycopg connections."""

    engines: ClassVar[frozenset[str]] = frozenset({"postgres", "aurora-postgresql"})
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

    def check_login(self, session: psycopg.Connection[Any], secret: Secret) -> None:
        """A query runs, and the server names the secret's user as the session user."""
        if self.execute(session, "SELECT session_user") != [(secret["username"],)]:
            raise TargetError(f"the session user is not {secret['username']!r}")

    def ensure_clone(
        self, admin: psycopg.Connection[Any], base: str, clone: str, password: str
    ) -> bool:
        """Create `clone` (LOGIN, `password`) or re-sync it: attributes, membership, settings,
        default role. One transaction, so a crash leaves the clone whole or absent."""
        from psycopg import sql

        with admin.transaction():
            found = self.execute(admin, ATTRIBUTES, (base,))
            if not found:
                raise TargetError(f"role {base!r} does not exist, so it cannot be cloned")
            rows = self.execute(admin, ATTRIBUTES, (clone,))
            have = rows[0] if rows else None
            # Only what differs: a non-superuser admin may not even name NOSUPERUSER.
            changes = [
                sql.SQL(("" if value else "NO") + clause)
                if isinstance(value, bool)
                else sql.SQL(clause + " {}").format(
                    sql.Literal("infinity" if value is None else value)
                )
                for clause, value, old in zip(CLAUSES, found[0], have or NEW_ROLE, strict=False)
                if value != old
            ]
            options = sql.SQL(" ").join(changes)
            if have is None:
                create = sql.SQL("CREATE ROLE {} LOGIN {}")
                self.execute(admin, create.format(sql.Identifier(clone), options))
                self.set_password(admin, clone, password)
            elif changes or not have[8]:
                alter = sql.SQL("ALTER ROLE {} LOGIN {}")
                self.execute(admin, alter.format(sql.Identifier(clone), options))
            if not self.execute(admin, MEMBER, (base, clone)):
                grant = sql.SQL("GRANT {} TO {}")
                self.execute(admin, grant.format(sql.Identifier(base), sql.Identifier(clone)))
            self._sync_settings(admin, base, clone)
        return have is None

    def _sync_settings(self, admin: psycopg.Connection[Any], base: str, clone: str) -> None:
        """Give `clone` the per-role settings of `base` (per database too), plus `role` = base."""
        from psycopg import sql

        def settings(role: str) -> dict[tuple[str, str], str]:
            rows = self.execute(admin, SETTINGS, (role,))
            return {(db, entry.partition("=")[0]): entry.partition("=")[2] for db, entry in rows}

        want = {key: value for key, value in settings(base).items() if key[1] != "role"}
        want["", "role"] = base
        have = settings(clone)
        for db, name in sorted(want.keys() | have.keys()):
            value = want.get((db, name))
            if value == have.get((db, name)):
                continue
            scope = sql.SQL("IN DATABASE {}").format(sql.Identifier(db)) if db else sql.SQL("")
            role = sql.SQL("ALTER ROLE {} {} ").format(sql.Identifier(clone), scope)
            guc = sql.Identifier(*name.split("."))
            if value is None:
                self.execute(admin, role + sql.SQL("RESET {}").format(guc))
            elif name == "role":
                self.execute(admin, role + sql.SQL("SET role TO {}").format(sql.Literal(value)))
            else:  # set it in this transaction, then store it: lists keep their quoting
                self.execute(admin, "SELECT set_config(%s, %s, true)", (name, value))
                self.execute(admin, role + sql.SQL("SET {} FROM CURRENT").format(guc))


lambda_handler = PostgreSQLRotator.handler()
