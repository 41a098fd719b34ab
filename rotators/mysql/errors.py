"""What a MySQL or MariaDB error means: its Failure (from the error code), a message that never
quotes a statement's values, and what a password validation plugin that refused requires."""

from __future__ import annotations

import re
import ssl
from collections.abc import Sequence

from smrotate.database import transport_failure
from smrotate.errors import Failure

_FAILURES = {
    Failure.AUTHENTICATION: {1045, 1130, 1698, 1862, 3118, 4151},
    Failure.PRIVILEGE: {1044, 1142, 1143, 1227, 1370, 1410, 3523, 1959},
    Failure.TLS: {2026, 3159},
    Failure.NETWORK: {2002, 2003, 2005, 2006, 2013, 2055},
}
_HIDE_DETAIL = {1064, 1149}  # syntax errors quote the statement, which may hold a password
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
    found = next((f for f, codes in _FAILURES.items() if code_of(exc) in codes), None)
    return found or transport_failure(str(exc)) or Failure.OTHER


def detail_of(exc: BaseException) -> str:
    """The error code and the server's message (target_error scrubs it)."""
    message = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    if code_of(exc) in _HIDE_DETAIL:
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
