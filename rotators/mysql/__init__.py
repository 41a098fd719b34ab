"""Rotates MySQL, Aurora MySQL and MariaDB passwords (engines `mysql`, `aurora-mysql`, `mariadb`).

How, and what the admin refuses: docs/mysql.md. pymysql is imported only by the steps that
talk to the database; TLS is verified unless the secret says `"ssl": false`, never downgraded.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from smrotate.database import (
    ConnectionSettings,
    DatabaseRotator,
    SessionFacts,
    target_error,
    transport_failure,
)
from smrotate.errors import Failure
from smrotate.observability import logger
from smrotate.rotators.mysql import sql
from smrotate.rotators.mysql.clone import account_facts, password_accounts, sync_clone
from smrotate.rotators.mysql.grants import identified_by_native_hash
from smrotate.rotators.mysql.sql import Server
from smrotate.store import Secret
from smrotate.strategies import AccountFacts

if TYPE_CHECKING:
    from pymysql.connections import Connection

STATEMENT_TIMEOUT = 30  # seconds to wait for one statement's answer
FAILURES = {  # server and client error codes, by what failed
    Failure.AUTHENTICATION: {1045, 1130, 1698, 1862, 3118, 4151},
    Failure.PRIVILEGE: {1044, 1142, 1143, 1227, 1370, 1410, 3523, 1959},
    Failure.TLS: {2026, 3159},
    Failure.NETWORK: {2002, 2003, 2005, 2006, 2013, 2055},
}
HIDE_DETAIL = {1064, 1149}  # syntax errors quote the statement, which may hold a password
# 1819: the password does not satisfy the policy. 1290: MariaDB's strict_password_validation
# refuses a password given as a hash. 1396: MariaDB's ALTER USER reports either as this.
POLICY_CODES = frozenset({1819, 1290, 1396})
STRICT = "strict_password_validation"


def code_of(exc: BaseException) -> int:
    """The server's or client's error number; 0 when there is none."""
    return exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0


def failure_of(exc: BaseException) -> Failure:
    """What failed: TLS under a network error, else by code, else by the drivers' wording."""
    if isinstance(getattr(exc, "original_exception", None), ssl.SSLError):
        return Failure.TLS
    found = next((f for f, codes in FAILURES.items() if code_of(exc) in codes), None)
    return found or transport_failure(str(exc)) or Failure.OTHER


def detail_of(exc: BaseException) -> str:
    """The error code and the server's message (target_error scrubs it)."""
    message = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    if code_of(exc) in HIDE_DETAIL:
        message = "SQL syntax error (the statement is not shown)"
    return f"MySQL error {code_of(exc)}: {message}"


def verb_of(statement: str) -> str:
    """The statement's leading keywords (`SHOW GRANTS`, `SELECT`): never its values."""
    words = re.findall(r"[A-Z]+(?=\s|$)", " ".join(statement.split()[:2]))
    return " ".join(words) or "a statement"


def policy_hint(code: int, settings: Sequence[tuple[str, str]]) -> str:
    """What to add to error `code` when `settings` (sql.VALIDATION_SETTINGS' rows) show a
    password validation plugin; "" when they show none (the error has another cause)."""
    values = {name.lower(): value for name, value in settings}
    strict = values.pop(STRICT, "").upper() == "ON"
    if not values:
        return ""
    listed = ", ".join(f"{name}={value}" for name, value in sorted(values.items()))
    hint = (
        f"; the server runs a password validation plugin ({listed}): make the generated "
        "passwords meet it with the rotator's PASSWORD_LENGTH, EXCLUDE_NUMBERS, "
        "EXCLUDE_PUNCTUATION, EXCLUDE_UPPERCASE, EXCLUDE_LOWERCASE and "
        "REQUIRE_EACH_INCLUDED_TYPE settings, or relax the plugin's"
    )
    if strict and code != 1819:
        hint += (
            f". With {STRICT}=ON it also refuses any password given as a hash, and smrotate "
            "gives MariaDB mysql_native_password passwords only as hashes (so that no plaintext "
            f"reaches the server's logs): set {STRICT}=OFF"
        )
    return hint


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
    max_username_length = 32

    def username_limit(self, secret: Secret) -> int:
        """80 on MariaDB, 32 on MySQL; setSecret checks the real server's limit."""
        return 80 if secret.get("engine") == "mariadb" else 32

    @contextmanager
    def connect(self, settings: ConnectionSettings) -> Iterator[MySQLSession]:
        """A TLS (unless `"ssl": false`: then plaintext only), autocommit session."""
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
        """Run one template (values as `%s` parameters); its rows. Errors are classified, and
        a password policy refusal says what the server's validation plugin requires."""
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
        """CURRENT_USER() (the row the server matched), and TLS if the client's own socket is
        TLS (a server can report any Ssl_cipher); remembers the server's version."""
        [(account, version)] = self.execute(session, sql.SESSION_FACTS)
        session.server = session.server or Server.parse(str(version))
        user, _, host = str(account).rpartition("@")
        tls = isinstance(getattr(session.conn, "_sock", None), ssl.SSLSocket)
        return SessionFacts(user=user, host=host, tls=tls)

    def prove_same_server(self, own: MySQLSession, admin: MySQLSession, username: str) -> bool:
        """True when the admin's server shows the lock `own` took under a random name held by a
        session of `username`, and has no anonymous account (which takes any name); else False,
        with a warning saying why."""
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
        """Whether `username` exists, is admin-level (or its roles are), and which base its
        clone mark names. Read-only."""
        return account_facts(self, admin, username)

    def change_own_password(self, session: MySQLSession, secret: Secret, password: str) -> None:
        """The matched account row sets its own password (the user may hold no privilege); on
        MariaDB with mysql_native_password, as a hash computed here."""
        server, plugin = self.server(session), ""
        if server.mariadb:  # the plugin decides whether the hash can be computed here
            lines = [str(row[0]) for row in self.execute(session, sql.OWN_GRANTS)]
            plugin = sql.NATIVE if identified_by_native_hash(lines) else ""
        self.execute(session, *sql.own_password(server, password, str(secret["password"]), plugin))

    def set_password(self, admin: MySQLSession, username: str, password: str) -> None:
        """Every host row of `username` gets `password` (the secret names no host), each with
        its own plugin. Idempotent."""
        server = self.server(admin)
        for row in password_accounts(self, admin, username):
            self.execute(admin, *sql.set_password(server, username, row.host, row.plugin, password))

    def ensure_clone(self, admin: MySQLSession, base: str, clone: str, password: str) -> bool:
        """Create or re-sync `clone` (`clone.sync_clone`); True when it created it."""
        self.server(admin).check_username(clone)
        return sync_clone(self, admin, base, clone, password)


lambda_handler = MySQLRotator.handler()
