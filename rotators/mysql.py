"""Rotates MySQL, Aurora MySQL and MariaDB passwords (engines `mysql`, `aurora-mysql`, `mariadb`).

The strategy comes from ROTATION_STRATEGY (framework/strategies.py). The SQL depends on the
server, read with `SELECT VERSION()` by the first step that needs it (`mysql_dialect`); clones
are kept in step by `mysql_clone`. TLS is on and verified (CA and host name) unless the secret
says `"ssl": false`, and never falls back to plaintext. pymysql is imported only by the steps
that talk to the database.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from framework.database import ConnectionSettings, DatabaseRotator, target_error
from framework.errors import Failure, LoginRefusedError
from framework.observability import logger
from framework.store import Secret
from rotators import mysql_dialect as sql
from rotators.mysql_clone import Run, password_accounts, sync_clone
from rotators.mysql_dialect import Server
from rotators.mysql_errors import detail_of, failure_of, verb_of
from rotators.mysql_grants import identified_by_native_hash

if TYPE_CHECKING:
    from pymysql.connections import Connection

STATEMENT_TIMEOUT = 30  # seconds to wait for one statement's answer


@dataclass
class MySQLSession:
    """A pymysql connection, the settings that opened it, and the server, once read."""

    conn: Connection[Any]
    settings: ConnectionSettings
    server: Server | None = field(default=None)


class MySQLRotator(DatabaseRotator[MySQLSession]):
    """Password rotation for MySQL 5.7+/8, Aurora MySQL and MariaDB 10.2+ accounts."""

    engines = frozenset({"mysql", "aurora-mysql", "mariadb"})
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
        """Run one statement template (values as `%s` parameters); its rows."""
        import pymysql

        try:
            with session.conn.cursor() as cursor:
                cursor.execute(statement, tuple(params))
                return list(cursor.fetchall()) if cursor.description else []
        except pymysql.MySQLError as exc:
            failure = failure_of(exc)
            if failure is Failure.AUTHENTICATION:  # "access denied" to a logged-in session
                failure = Failure.PRIVILEGE
            action = "running " + verb_of(str(statement))
            raise target_error(session.settings, failure, detail_of(exc), action) from None

    def server(self, session: MySQLSession) -> Server:
        """The session's server flavour and version (one query, then remembered)."""
        if session.server is None:
            session.server = Server.parse(str(self.execute(session, *sql.version())[0][0]))
        return session.server

    def _check_account(self, session: MySQLSession, username: str) -> str:
        """The `user@host` the server matched; LoginRefusedError when it is not `username`."""
        account = str(self.execute(session, *sql.current_account())[0][0])
        if account.rpartition("@")[0] != username:
            raise LoginRefusedError(
                f"logging in as user {username!r} matched account {account!r} (an anonymous "
                "account is more specific for this client's host); drop it or add a host row "
                f"for {username!r}"
            )
        return account

    # ------------------------------------------------------------ PasswordRotator hooks

    def check_login(self, session: MySQLSession, secret: Secret) -> None:
        """The session is the secret's user, not an anonymous account."""
        self._check_account(session, str(secret["username"]))

    def change_own_password(self, session: MySQLSession, secret: Secret, password: str) -> None:
        """The matched account row sets its own password (the user may hold no privilege);
        on MariaDB with mysql_native_password, as a hash computed here."""
        self._check_account(session, str(secret["username"]))
        server, plugin = self.server(session), ""
        if server.mariadb:  # the plugin decides whether the hash can be computed here
            lines = [str(row[0]) for row in self.execute(session, *sql.own_grants())]
            plugin = sql.NATIVE if identified_by_native_hash(lines) else ""
        statement = sql.own_password(server, password, str(secret["password"]), plugin)
        self.execute(session, *statement)

    def set_password(self, admin: MySQLSession, username: str, password: str) -> None:
        """Set the password of every host row of `username`, keeping each row's plugin.

        The secret names a user, not a host, and the server picks a row by where the client
        connects from: all rows change, or the secret would work from some hosts only.
        """
        server = self.server(admin)
        for row in password_accounts(self._runner(admin), server, username):
            self.execute(admin, *sql.set_password(server, username, row.host, row.plugin, password))

    def ensure_clone(self, admin: MySQLSession, base: str, clone: str, password: str) -> bool:
        """Create or re-sync `clone`: base's hosts, privileges, roles, REQUIRE and limits."""
        server = self.server(admin)
        server.check_username(clone)
        return sync_clone(self._runner(admin), server, base, clone, password)

    def _runner(self, session: MySQLSession) -> Run:
        """`execute` on `session`, looked up at each call (the conformance kit wraps it)."""
        return lambda statement, params: self.execute(session, statement, params)


lambda_handler = MySQLRotator.handler()
