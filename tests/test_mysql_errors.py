"""What pymysql's errors mean: network, TLS, authentication, privilege; messages without the
statement's values."""

from __future__ import annotations

import ssl

import pymysql
import pytest

from smrotate.errors import Failure
from smrotate.rotators.mysql.session import (
    STRICT,
    detail_of,
    failure_of,
    policy_hint,
    verb_of,
)


def network_error(cause: OSError) -> pymysql.OperationalError:
    """What pymysql raises when the socket fails: 2003, the OS error kept aside."""
    error = pymysql.OperationalError(2003, f"Can't connect to MySQL server on 'db' ({cause})")
    error.original_exception = cause
    return error


@pytest.mark.parametrize(
    ("error", "failure"),
    [
        (
            pymysql.OperationalError(1045, "Access denied for user 'app'@'10.0.0.9'"),
            Failure.AUTHENTICATION,
        ),
        (
            pymysql.OperationalError(4151, "Access denied, this account is locked"),
            Failure.AUTHENTICATION,
        ),
        (
            pymysql.OperationalError(3118, "Access denied for user. Account is locked."),
            Failure.AUTHENTICATION,
        ),
        (
            pymysql.OperationalError(1044, "Access denied for user 'app' to database 'x'"),
            Failure.PRIVILEGE,
        ),
        (pymysql.OperationalError(1227, "you need the CREATE USER privilege"), Failure.PRIVILEGE),
        (
            pymysql.OperationalError(2026, "SSL is required but the server doesn't support it"),
            Failure.TLS,
        ),
        (
            pymysql.OperationalError(3159, "Connections using insecure transport are prohibited"),
            Failure.TLS,
        ),
        (network_error(ConnectionRefusedError(111, "Connection refused")), Failure.NETWORK),
        (network_error(ssl.SSLCertVerificationError(1, "certificate verify failed")), Failure.TLS),
        (
            pymysql.OperationalError(2013, "Lost connection to MySQL server during query"),
            Failure.NETWORK,
        ),
        (pymysql.OperationalError(1396, "Operation CREATE USER failed for 'c'@'%'"), Failure.OTHER),
    ],
)
def test_failures_by_code(error: pymysql.MySQLError, failure: Failure) -> None:
    assert failure_of(error) is failure


def test_syntax_errors_do_not_quote_the_statement() -> None:
    error = pymysql.ProgrammingError(1064, "You have an error near 'Pw1!secret' at line 1")
    assert "Pw1!secret" not in detail_of(error)
    assert detail_of(error).startswith("MySQL error 1064: SQL syntax error")


def test_statement_names_hold_keywords_only() -> None:
    assert verb_of("ALTER USER %s@%s IDENTIFIED BY %s") == "ALTER USER"
    assert verb_of("SELECT Host, plugin FROM mysql.user") == "SELECT"
    assert verb_of("GRANT SELECT (`a`) ON `d`.* TO %s@%s") == "GRANT SELECT"


MYSQL_POLICY = [
    ("validate_password.length", "20"),
    ("validate_password.mixed_case_count", "1"),
    ("validate_password.number_count", "1"),
    ("validate_password.policy", "MEDIUM"),
    ("validate_password.special_char_count", "1"),
]


def test_a_password_policy_refusal_names_the_plugins_settings_and_ours() -> None:
    """MySQL's validate_password refuses a generated password (1819)."""
    hint = policy_hint(1819, MYSQL_POLICY)
    assert "the server runs a password validation plugin (validate_password.length=20, " in hint
    assert "validate_password.special_char_count=1)" in hint
    assert "PASSWORD_LENGTH, EXCLUDE_NUMBERS, EXCLUDE_PUNCTUATION, EXCLUDE_UPPERCASE, " in hint
    assert "REQUIRE_EACH_INCLUDED_TYPE" in hint
    assert "strict_password_validation" not in hint


def test_strict_validation_refusing_hashes_says_to_turn_it_off() -> None:
    """MariaDB: simple_password_check with strict_password_validation refuses hashes."""
    settings = [("simple_password_check_minimal_length", "12"), (STRICT, "ON")]
    for code in (1290, 1396):
        assert "set strict_password_validation=OFF" in policy_hint(code, settings)
    assert "strict_password_validation=OFF" not in policy_hint(1819, settings)


def test_no_plugin_no_hint() -> None:
    """1290 and 1396 have other causes (read-only server, a missing account)."""
    assert policy_hint(1396, []) == ""
    assert policy_hint(1290, [(STRICT, "ON")]) == ""
