"""Rotates PostgreSQL and Aurora PostgreSQL passwords, with the three ROTATION_STRATEGY values.

psycopg is imported only by the steps that talk to the database. TLS is verify-full unless the
secret says `"ssl": false`; `session_facts` reports libpq's own view of it (`ssl_in_use`: behind
a pooler, `pg_stat_ssl` would describe another hop). Passwords are hashed here (SCRAM-SHA-256).
The SQL and why it is safe: `sql.py`; what the admin does with roles: `clone.py`.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from smrotate.accounts import SessionFacts
from smrotate.database import Database, DatabaseAccount, classify_failure, target_error
from smrotate.password_rotator import AccountFacts, PasswordRotator
from smrotate.rotators.postgresql import clone
from smrotate.rotators.postgresql.sql import CONNECT_ERRORS, MAX_NAME_BYTES, PINNED, SEEN, run

if TYPE_CHECKING:
    import psycopg

    Session = psycopg.Connection[Any]

POSTGRES = Database(
    engines={"postgres": MAX_NAME_BYTES, "aurora-postgresql": MAX_NAME_BYTES},
    default_port=5432,
    default_dbname="postgres",
    truncates=True,
    names="PostgreSQL role names",
)


class PostgreSQLRotator(PasswordRotator[DatabaseAccount, "psycopg.Connection[Any]"]):
    """PostgreSQL passwords, the three strategies; sessions are autocommit psycopg connections."""

    schema: ClassVar[Database] = POSTGRES
    driver_module: ClassVar[str] = "psycopg"
    driver_extra: ClassVar[str] = "postgres"
    driver_native: ClassVar[tuple[str, ...]] = ("psycopg_binary",)

    @contextmanager
    def login(self, account: DatabaseAccount) -> Iterator[Session]:
        """An autocommit session over verified TLS (or plaintext when the secret says so),
        with `search_path` pinned before any statement runs."""
        import psycopg

        verify = account.tls.enabled
        try:
            conn = psycopg.connect(
                host=account.host,
                port=account.port,
                user=account.username,
                password=account.password,
                dbname=account.dbname,
                connect_timeout=max(2, math.ceil(account.connect_timeout)),  # libpq's minimum
                application_name="smrotate",
                options=PINNED,
                sslmode="verify-full" if verify else "disable",
                sslrootcert=account.tls.ca_path() if verify else None,
                autocommit=True,
            )
        except psycopg.Error as exc:
            detail = " ".join(str(exc).split())
            if "no encryption" in detail:
                detail += ' (the server requires TLS here: remove "ssl": false from the secret)'
            failure = classify_failure(detail, **CONNECT_ERRORS)
            raise target_error(account, failure, detail) from None
        with conn:
            yield conn

    def session_facts(self, session: Session) -> SessionFacts:
        """session_user, and whether libpq's connection runs over TLS. Read-only."""
        rows = run(session, "SELECT session_user")
        return SessionFacts(str(rows[0][0]), None, bool(session.pgconn.ssl_in_use))

    def set_own_password(self, session: Session, account: DatabaseAccount, password: str) -> None:
        """The logged-in user sets its own password (any role may). Idempotent."""
        clone.set_password(session, account.username, password)

    def set_password(self, admin: Session, username: str, password: str) -> None:
        """ALTER ROLE ... PASSWORD with a SCRAM-SHA-256 verifier made here. Idempotent."""
        clone.set_password(admin, username, password)

    def sync_clone(self, admin: Session, base: str, clone_name: str, password: str) -> bool:
        """Create (marked) or re-sync the clone so it equals `base` (`clone.sync_clone`)."""
        return clone.sync_clone(admin, base, clone_name, password)

    def account_facts(self, admin: Session, username: str) -> AccountFacts:
        """Whether `username` exists, why it is privileged, and its clone mark. Read-only."""
        return clone.account_facts(admin, username)

    def prove_same_server(self, own: Session, admin: Session, username: str) -> bool:
        """`own` takes a random application_name; True when `admin`'s pg_stat_activity (every
        role sees application_name) lists it for a session of `username`."""
        from psycopg import sql

        nonce = f"smrotate-guard-{secrets.token_hex(16)}"
        run(own, sql.SQL("SET application_name TO {}").format(sql.Literal(nonce)))
        return bool(run(admin, SEEN, (nonce, username)))


PostgreSQLRotator.check_installed()  # at import, so a broken package fails before any step
lambda_handler = PostgreSQLRotator.handler()
