"""Rotates MySQL, Aurora MySQL and MariaDB passwords (engines `mysql`, `aurora-mysql`, `mariadb`).

The strategy comes from ROTATION_STRATEGY (framework/strategies.py). The SQL depends on the
server, read with `SELECT VERSION()` at login (`sql`); clones are kept in step and
marked by `clone`. TLS is on and verified (CA and host name) unless the secret says
`"ssl": false`, and never falls back to plaintext. pymysql is imported only by the steps that
talk to the database.

What the engine checks at every login (`session_facts`): the account is the user part of
CURRENT_USER() (the row the server matched, '' for an anonymous account), and TLS means the
client's own socket is a TLS socket, verified by this process: a server, or an impostor, can
report any Ssl_cipher (MariaDB has it in information_schema.SESSION_STATUS, MySQL 8 only in
performance_schema.session_status), but not make a plaintext socket encrypted.

Same server (`prove_same_server`, when the two secrets name different endpoints): the user's
session takes GET_LOCK on a random name and the admin's session must find that lock held, on
its own server, by a session of that user. MySQL's @@server_uuid would prove nothing: anyone
who can log in to the real server can read it, and a server the attacker runs can answer any
value (MariaDB has no such variable). A lock name drawn at random for this one check cannot be
answered by another server.
"""

from __future__ import annotations

import contextlib
import secrets
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from smrotate.database import ConnectionSettings, DatabaseRotator, SessionFacts, target_error
from smrotate.errors import Failure
from smrotate.observability import logger
from smrotate.rotators.mysql import sql
from smrotate.rotators.mysql.clone import (
    Run,
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
            return self._query(session, statement, params)
        except pymysql.MySQLError as exc:
            failure = failure_of(exc)
            if failure is Failure.AUTHENTICATION:  # "access denied" to a logged-in session
                failure = Failure.PRIVILEGE
            detail = detail_of(exc)
            if code_of(exc) in POLICY_CODES:
                detail += self._policy_hint(session, code_of(exc))
            action = "running " + verb_of(str(statement))
            raise target_error(session.settings, failure, detail, action) from None

    def _query(
        self, session: MySQLSession, statement: str, params: Sequence[Any]
    ) -> list[tuple[Any, ...]]:
        with session.conn.cursor() as cursor:
            cursor.execute(statement, tuple(params))
            return list(cursor.fetchall()) if cursor.description else []

    def _policy_hint(self, session: MySQLSession, code: int) -> str:
        """What a password validation plugin requires, if one runs (read after error `code`)."""
        import pymysql

        try:
            rows = self._query(session, sql.VALIDATION_SETTINGS, ())
        except pymysql.MySQLError:
            return ""
        return policy_hint(code, [(str(name), str(value)) for name, value in rows])

    def server(self, session: MySQLSession) -> Server:
        """The session's server flavour and version (one query, then remembered)."""
        if session.server is None:
            session.server = Server.parse(str(self.execute(session, *sql.version())[0][0]))
        return session.server

    # ------------------------------------------------------------ DatabaseRotator hooks

    def session_facts(self, session: MySQLSession) -> SessionFacts:
        """CURRENT_USER() split at its last `@` (a host has none), the client socket's TLS;
        the server's version is remembered from the same query."""
        [(account, version)] = self.execute(session, sql.SESSION_FACTS)
        if session.server is None:
            session.server = Server.parse(str(version))
        user, _, host = str(account).rpartition("@")
        tls = isinstance(getattr(session.conn, "_sock", None), ssl.SSLSocket)
        return SessionFacts(user=user, host=host, tls=tls)

    def prove_same_server(self, own: MySQLSession, admin: MySQLSession, username: str) -> bool:
        """`own` holds a lock with a random name; True when the admin's server shows it held
        by a session of `username` (see the module's docstring). False, with a warning saying
        why, when the lock is not there, the admin cannot see its holder (it needs PROCESS),
        the holder is another user, or an anonymous account exists on the admin's server
        (the process list shows the name a client sent, which such an account accepts)."""
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
        """Whether `username` has rows; admin-level rights (`grants.admin_level`, also
        through roles); the base its clone mark names (`clone`)."""
        server, run = self.server(admin), self._runner(admin)
        self.execute(admin, *sql.admin_session())
        rows = account_rows(run, server, username)
        if not rows:
            return AccountFacts(exists=False)
        return AccountFacts(
            exists=True,
            privileged=admin_reason(run, server, username, rows),
            clone_of=clone_mark(run, server, username, rows),
        )

    # ------------------------------------------------------------ PasswordRotator hooks

    def change_own_password(self, session: MySQLSession, secret: Secret, password: str) -> None:
        """The matched account row sets its own password (the user may hold no privilege);
        on MariaDB with mysql_native_password, as a hash computed here. (`login` has checked
        that the session is the secret's user.)"""
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
