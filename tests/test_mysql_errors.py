"""What pymysql's errors mean: network, TLS, authentication, privilege; messages without the
statement's values."""

from __future__ import annotations

import ssl

import pymysql
import pytest

from framework.errors import Failure
from rotators.mysql_errors import detail_of, failure_of, verb_of


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
