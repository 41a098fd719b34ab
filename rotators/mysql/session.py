"""A MySQL/MariaDB session: `connect` (TLS verified unless `"ssl": false`, never downgraded), and
`run`, which every statement goes through (errors classified, never quoting a value)."""

from __future__ import annotations

import contextlib
import re
import ssl
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from smrotate.database import DatabaseAccount, target_error, transport_failure
from smrotate.errors import Failure
from smrotate.observability import logger
from smrotate.rotators.mysql import sql

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
    """What to add to error `code` when `settings` (VALIDATION_SETTINGS' rows) show a plugin."""
    values = {name.lower(): value for name, value in settings}
    strict = values.pop(STRICT, "").upper() == "ON"
    if not values:
        return ""
    listed = ", ".join(f"{name}={value}" for name, value in sorted(values.items()))
    hint = (
        f"; the server runs a password validation plugin ({listed}): make the generated passwords "
        "meet it with the rotator's PASSWORD_LENGTH, EXCLUDE_NUMBERS, EXCLUDE_PUNCTUATION, "
        "EXCLUDE_UPPERCASE, EXCLUDE_LOWERCASE and REQUIRE_EACH_INCLUDED_TYPE settings, or relax "
        "the plugin's"
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
    """A pymysql connection, the account that opened it, and the server, once read."""

    conn: Connection[Any]
    account: DatabaseAccount
    server: sql.Server | None = None


@contextmanager
def connect(account: DatabaseAccount) -> Iterator[MySQLSession]:
    """A TLS (unless `"ssl": false`: then plaintext only), autocommit session."""
    import pymysql

    try:
        conn = pymysql.connect(
            host=account.host,
            port=account.port,
            user=account.username,
            password=account.password.encode(),
            database=account.dbname,
            connect_timeout=account.connect_timeout,
            read_timeout=STATEMENT_TIMEOUT,
            write_timeout=STATEMENT_TIMEOUT,
            charset="utf8mb4",
            autocommit=True,
            ssl=account.tls.context() if account.tls.enabled else None,  # then TLS or no session
            ssl_disabled=not account.tls.enabled,  # else pymysql would try TLS, then plaintext
        )
    except pymysql.MySQLError as exc:
        failure, detail = failure_of(exc), detail_of(exc)
        if failure is Failure.AUTHENTICATION and not account.tls.enabled:
            detail += ' (the secret says "ssl": false; TLS-only accounts refuse plaintext)'
            logger.warning(f"login refused over plaintext: {account.describe()}: {detail}")
        raise target_error(account, failure, detail) from None
    try:
        yield MySQLSession(conn, account)
    finally:
        with contextlib.suppress(Exception):
            conn.close()


class Refused(Exception):
    """The server refused a statement with a code the caller expected (`run`'s `expected`)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"MySQL error {code}")
        self.code = code


def run(
    session: MySQLSession,
    statement: Any,
    params: Sequence[Any] = (),
    *,
    expected: Collection[int] = (),
) -> list[tuple[Any, ...]]:
    """Run one template (values as `%s` parameters); its rows, Refused for an `expected` error
    code, or a classified TargetError."""
    import pymysql

    try:
        with session.conn.cursor() as cursor:
            cursor.execute(statement, tuple(params))
            return list(cursor.fetchall()) if cursor.description else []
    except pymysql.MySQLError as exc:
        failure, detail, code = failure_of(exc), detail_of(exc), code_of(exc)
        if code in expected:
            raise Refused(code) from None
        if code in POLICY_CODES:  # say what the server's validation plugin requires
            with contextlib.suppress(pymysql.MySQLError), session.conn.cursor() as cursor:
                cursor.execute(sql.VALIDATION_SETTINGS, ())
                rows = [(str(name), str(value)) for name, value in cursor.fetchall()]
                detail += policy_hint(code, rows)
        failure = Failure.PRIVILEGE if failure is Failure.AUTHENTICATION else failure  # logged in
        action = "running " + verb_of(str(statement))
        raise target_error(session.account, failure, detail, action) from None


def server_of(session: MySQLSession) -> sql.Server:
    """The session's server flavour and version (read once)."""
    if session.server is None:
        session.server = sql.Server.parse(str(run(session, sql.SESSION_FACTS)[0][1]))
    return session.server
