"""What a MySQL or MariaDB error means: the Failure (network, TLS, authentication, privilege)
from pymysql's exception, and a message that never quotes a statement's values."""

from __future__ import annotations

import re
import ssl

from framework.database import transport_failure
from framework.errors import Failure

# Server and client error codes, by what failed.
_FAILURES = {
    Failure.AUTHENTICATION: {1045, 1130, 1698, 1862, 3118, 4151},
    Failure.PRIVILEGE: {1044, 1142, 1143, 1227, 1370, 1410, 3523, 1959},
    Failure.TLS: {2026, 3159},
    Failure.NETWORK: {2002, 2003, 2005, 2006, 2013, 2055},
}
_HIDE_DETAIL = {1064, 1149}  # syntax errors quote the statement, which may hold a password


def _code(exc: BaseException) -> int:
    return exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0


def failure_of(exc: BaseException) -> Failure:
    """What failed, from pymysql's error: the TLS error under a network one, the code, else
    the wording all drivers share."""
    if isinstance(getattr(exc, "original_exception", None), ssl.SSLError):
        return Failure.TLS
    found = next((f for f, codes in _FAILURES.items() if _code(exc) in codes), None)
    return found or transport_failure(str(exc)) or Failure.OTHER


def detail_of(exc: BaseException) -> str:
    """The error code and the server's message (target_error scrubs it)."""
    message = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    if _code(exc) in _HIDE_DETAIL:
        message = "SQL syntax error (the statement is not shown)"
    return f"MySQL error {_code(exc)}: {message}"


def verb_of(statement: str) -> str:
    """The statement's leading keywords (`SHOW GRANTS`, `SELECT`): never its values."""
    words = re.findall(r"[A-Z]+(?=\s|$)", " ".join(statement.split()[:2]))
    return " ".join(words) or "a statement"
