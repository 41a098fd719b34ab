"""Rotates MySQL, Aurora MySQL and MariaDB passwords (engines `mysql`, `aurora-mysql`, `mariadb`).

How, and what the admin refuses: docs/mysql.md. pymysql is imported only by the steps that
talk to the database; TLS is verified unless the secret says `"ssl": false`, never downgraded.
"""

from __future__ import annotations

import contextlib
import secrets
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from smrotate.database import ConnectionSettings, DatabaseRotator, SessionFacts, target_error
from smrotate.errors import Failure
from smrotate.observability import logger
from smrotate.rotators.mysql import sql
from smrotate.rotators.mysql.clone import (
    account_rows,
    admin_reason,
    clone_mark,
    password_accounts,
    sync_clone,
)
from smrotate.rotators.mysql.errors import (
    POLICY_CODES,
    code_of,
    detail_of,
    failure_of,
    policy_hint,
    verb_of,
)
from smrotate.rotators.mysql.grants import identified_by_native_hash
from smrotate.rotators.mysql.sql import Server
from smrotate.store import Secret
from smrotate.strategies import AccountFacts

if TYPE_CHECKING:
    from pymysql.connections import Connection

__all__ = ["MySQLRotator", "MySQLSession", "lambda_handler"]
STATEMENT_TIMEOUT = 30  # seconds to wait for one statement's answer


@dataclass
class MySQLSession:
    """A pymysql connection, the settings that opened it, and the server, once read."""

    conn: Connection[Any]
    settings: ConnectionSettings
    server: Server | None = None


def _query(session: MySQLSession, statement: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with session.conn.cursor() as cursor:
        cursor.execute(statement, tuple(params))
        return list(cursor.fetchall()) if cursor.description else []


class MySQLRotator(DatabaseRotator[MySQLSession]):
    """Password rotation for MySQL 5.7+/8, Aurora MySQL and MariaDB 10.2+ accounts."""

    engines = frozenset({"mysql", "aurora-mysql", "mariadb"})
    driver_module, driver_extra = "pymysql", "mysql"  # createSecret checks it is installed
    default_port = 3306
    default_dbname = None
    max_username_length = 32

    def username_limit(self, secret: Secret) -> int:
        """80 on MariaDB, 32 on MySQL; setSecret checks the real server's limit."""
        return 80 if secret.get("engine") == "mariadb" else 32

    @contextmanager
    def connect(self, settings: ConnectionSettings) -> Iterator[MySQLSession]:
        """A TLS (unless `"ssl": false`), autocommit session; failures classified."""
        import pymysql

        tls: dict[str, Any] = {"ssl_disabled": True}
        if settings.tls.enabled:
            tls = {"ssl": settings.tls.context()}  # pymysql then refuses a server without TLS
        try:
            conn = pymysql.connect(
                host=settings.host,
                port=settings.port,
                user=settings.username,
                password=settings.password.encode(),
                database=settings.dbname,
                connect_timeout=settings.connect_timeout,
                read_timeout=STATEMENT_TIMEOUT,
                write_timeout=STATEMENT_TIMEOUT,
                charset="utf8mb4",
                autocommit=True,
                **tls,
            )
        except pymysql.MySQLError as exc:
            failure, detail = failure_of(exc), detail_of(exc)
            if failure is Failure.AUTHENTICATION and not settings.tls.enabled:
                detail += ' (the secret says "ssl": false; TLS-only accounts refuse plaintext)'
                logger.warning(f"login refused over plaintext: {settings.describe()}: {detail}")
            raise target_error(settings, failure, detail) from None
        try:
            yield MySQLSession(conn, settings)
        finally:
            with contextlib.suppress(Exception):
                conn.close()

    def execute(
        self, session: MySQLSession, statement: Any, params: Sequence[Any] = ()
    ) -> list[tuple[Any, ...]]:
        """Run one statement template (values as `%s` parameters); its rows. A password
        policy refusal says what the server's validation plugin requires."""
        import pymysql

        try:
            return _query(session, statement, params)
        except pymysql.MySQLError as exc:
            failure, detail, code = failure_of(exc), detail_of(exc), code_of(exc)
            if failure is Failure.AUTHENTICATION:  # "access denied" to a logged-in session
                failure = Failure.PRIVILEGE
            if code in POLICY_CODES:
                with contextlib.suppress(pymysql.MySQLError):
                    rows = _query(session, sql.VALIDATION_SETTINGS, ())
                    detail += policy_hint(code, [(str(name), str(value)) for name, value in rows])
            action = "running " + verb_of(str(statement))
            raise target_error(session.settings, failure, detail, action) from None

    def server(self, session: MySQLSession) -> Server:
        """The session's server flavour and version (read once)."""
        if session.server is None:
            session.server = Server.parse(str(self.execute(session, sql.VERSION)[0][0]))
        return session.server

    def session_facts(self, session: MySQLSession) -> SessionFacts:
        """The user part of CURRENT_USER() (the row the server matched: '' when anonymous),
        and TLS when the client's own socket is a TLS socket: a server can report any
        Ssl_cipher, but not make a plaintext socket encrypted. Remembers the version."""
        [(account, version)] = self.execute(session, sql.SESSION_FACTS)
        session.server = session.server or Server.parse(str(version))
        user, _, host = str(account).rpartition("@")
        tls = isinstance(getattr(session.conn, "_sock", None), ssl.SSLSocket)
        return SessionFacts(user=user, host=host, tls=tls)

    def prove_same_server(self, own: MySQLSession, admin: MySQLSession, username: str) -> bool:
        """`own` takes a lock with a random name, which no other server can answer for; True
        when the admin's server shows it held by a session of `username`. False, with a
        warning saying why, when it is not there, the admin cannot see its holder (it needs
        PROCESS), the holder is another user, or an anonymous account exists on the admin's
        server (the process list shows the name a client sent, which such an account takes)."""
        name = "smrotate-" + secrets.token_hex(16)
        if [tuple(row) for row in self.execute(own, sql.TAKE_LOCK, (name,))] != [(1,)]:
            return False
        try:
            [(holder, user, anonymous)] = self.execute(admin, sql.LOCK_HOLDER, (name, name))
        finally:
            self.execute(own, sql.RELEASE_LOCK, (name,))
        if holder is None:
            why = "the user's session is not on the admin's server"
        elif user is None:
            why = "the admin cannot see other users' sessions: grant it PROCESS"
        elif int(anonymous):
            why = "the admin's server has anonymous accounts, which take any user name"
        elif str(user) != username:
            why = f"the lock is held by user {str(user)!r}"
        else:
            return True
        logger.warning(f"the admin could not prove it acts on the user's server: {why}")
        return False

    def account_facts(self, admin: MySQLSession, username: str) -> AccountFacts:
        """Whether `username` has rows, admin-level rights (its own or its roles'), and the
        base its clone mark names. Read-only."""
        self.server(admin)
        self.execute(admin, sql.ADMIN_SESSION)
        rows = account_rows(self, admin, username)
        if not rows:
            return AccountFacts(exists=False)
        return AccountFacts(
            exists=True,
            privileged=admin_reason(self, admin, username, rows),
            clone_of=clone_mark(self, admin, username, rows),
        )

    def change_own_password(self, session: MySQLSession, secret: Secret, password: str) -> None:
        """The matched account row sets its own password (the user may hold no privilege); on
        MariaDB with mysql_native_password, as a hash computed here. Idempotent."""
        server, plugin = self.server(session), ""
        if server.mariadb:  # the plugin decides whether the hash can be computed here
            lines = [str(row[0]) for row in self.execute(session, sql.OWN_GRANTS)]
            plugin = sql.NATIVE if identified_by_native_hash(lines) else ""
        statement = sql.own_password(server, password, str(secret["password"]), plugin)
        self.execute(session, *statement)

    def set_password(self, admin: MySQLSession, username: str, password: str) -> None:
        """Set the password of every host row of `username` (the secret names no host, and
        the server picks a row by where the client connects from), keeping each row's plugin.
        Idempotent."""
        server = self.server(admin)
        for row in password_accounts(self, admin, username):
            self.execute(admin, *sql.set_password(server, username, row.host, row.plugin, password))

    def ensure_clone(self, admin: MySQLSession, base: str, clone: str, password: str) -> bool:
        """Create or re-sync `clone` (`sync_clone`): the base's hosts, privileges, roles,
        REQUIRE and limits. True when it created it."""
        self.server(admin).check_username(clone)
        return sync_clone(self, admin, base, clone, password)


lambda_handler = MySQLRotator.handler()
