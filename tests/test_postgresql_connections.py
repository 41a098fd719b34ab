"""How the PostgreSQL rotator connects: verified TLS, no plaintext fallback, `"ssl": false`,
timeouts, and errors that say what failed (network, TLS, authentication, privilege)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import MakeSecret
from helpers import new_password, rotate, value
from pg_fixtures import PgUser
from pg_helpers import log_window, rotator
from psycopg import sql

from smrotate.errors import Failure, LoginRefusedError, TargetError
from smrotate.events import Step
from smrotate.operator.driver import LocalDriver
from smrotate.testing.postgres import PostgresServer
from smrotate.testing.tls import Pki

pytestmark = pytest.mark.postgres
MakeUser = Callable[..., PgUser]


def failed(arn: str, **env: str) -> TargetError:
    """Rotate, expect setSecret to fail with a TargetError, return it."""
    result = LocalDriver(rotator(**env).handle).rotate(arn)
    assert result.failed_step is Step.SET, result.error
    assert isinstance(result.error, TargetError), result.error
    return result.error


def plain_user(pg_plain: PostgresServer) -> PgUser:
    user = PgUser(f"plain_{new_password()[-8:].lower().replace('-', '_')}", new_password())
    pg_plain.create_role(user.name, user.password)
    return user


@pytest.mark.parametrize(
    ("change", "wording"),
    [
        ({"sslrootcert": "other_ca"}, "certificate verify failed"),
        ({"host": "127.0.0.1"}, 'does not match host name "127.0.0.1"'),
    ],
    ids=["wrong-ca", "wrong-host-name"],
)
def test_tls_failure_is_a_tls_error_and_never_a_plaintext_attempt(
    sm: Any,
    make_secret: MakeSecret,
    pg_plain: PostgresServer,
    pki: Pki,
    change: dict[str, str],
    wording: str,
) -> None:
    """On a server that would accept plaintext: a fallback would succeed, and show in its log."""
    user = plain_user(pg_plain)
    secret = pg_plain.secret(user.name, user.password)
    secret.update({k: str(pki.other_ca) if v == "other_ca" else v for k, v in change.items()})
    arn = make_secret(secret)
    with log_window(pg_plain) as log:
        error = failed(arn)
    assert error.failure is Failure.TLS
    assert str(error).startswith(f"tls failure: connecting as user {user.name!r}")
    assert wording in str(error)
    assert user.password not in str(error)
    assert not log.lines(f"connection authorized: user={user.name}")
    assert not log.lines(f"{user.name}@")  # no session, no authentication attempt at all
    assert pg_plain.logs_in(user.name, user.password)  # nothing changed


def test_ssl_false_rotates_in_plaintext_where_the_server_allows_it(
    sm: Any, make_secret: MakeSecret, pg_plain: PostgresServer
) -> None:
    user = plain_user(pg_plain)
    arn = make_secret(pg_plain.secret(user.name, user.password, ssl=False))
    with log_window(pg_plain) as log:
        rotate(arn, rotator())
    sessions = log.lines(f"connection authorized: user={user.name} ")
    assert len(sessions) == 2
    assert not any("SSL enabled" in line for line in sessions)  # plaintext, as asked
    assert pg_plain.logs_in(user.name, value(sm, arn)["password"])


def test_ssl_false_against_a_tls_only_server_says_tls_is_required(
    sm: Any, make_secret: MakeSecret, pg: PostgresServer, pg_user: MakeUser
) -> None:
    user = pg_user()
    arn = make_secret(pg.secret(user.name, user.password, ssl=False))
    error = failed(arn)
    assert error.failure is Failure.TLS
    assert 'remove "ssl": false' in str(error)


def test_a_missing_ca_file_is_a_tls_error(
    sm: Any, make_secret: MakeSecret, pg: PostgresServer, pg_user: MakeUser
) -> None:
    user = pg_user()
    arn = make_secret(pg.secret(user.name, user.password, sslrootcert="/nonexistent/ca.pem"))
    error = failed(arn)
    assert error.failure is Failure.TLS
    assert "/nonexistent/ca.pem" in str(error)


def test_the_ca_bundle_can_come_from_the_environment(
    sm: Any, make_secret: MakeSecret, pg: PostgresServer, pg_user: MakeUser, pki: Pki
) -> None:
    user = pg_user()
    secret = pg.secret(user.name, user.password)
    del secret["sslrootcert"]
    arn = make_secret(secret)
    rotate(arn, rotator(DATABASE_CA_BUNDLE=str(pki.ca)))
    assert pg.logs_in(user.name, value(sm, arn)["password"])
    error = failed(arn)  # the system bundle does not know the suite's CA
    assert error.failure is Failure.TLS


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and never answers (a stuck server)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def test_a_server_that_never_answers_fails_within_the_timeout(
    sm: Any, make_secret: MakeSecret, pg: PostgresServer, silent_port: int
) -> None:
    arn = make_secret({**pg.secret("app", "Pw1!never-sent"), "port": str(silent_port)})
    started = time.monotonic()
    error = failed(arn, DB_CONNECT_TIMEOUT="2")
    elapsed = time.monotonic() - started
    assert error.failure is Failure.NETWORK
    assert "timeout" in str(error)
    assert 2 <= elapsed < 4


def test_a_closed_port_is_a_network_error(
    sm: Any, make_secret: MakeSecret, pg: PostgresServer
) -> None:
    with socket.socket() as sock:  # bound, never listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        arn = make_secret(pg.secret("app", "Pw1!never-sent", port=sock.getsockname()[1]))
        error = failed(arn)
    assert error.failure is Failure.NETWORK
    assert "Connection refused" in str(error)


def test_a_wrong_password_is_an_authentication_error(
    sm: Any, make_secret: MakeSecret, pg: PostgresServer, pg_user: MakeUser
) -> None:
    user = pg_user()
    arn = make_secret(pg.secret(user.name, "Pw1!wrong-password"))
    error = failed(arn)
    assert isinstance(error, LoginRefusedError)
    assert error.failure is Failure.AUTHENTICATION
    assert "Pw1!wrong-password" not in str(error)
    assert pg.logs_in(user.name, user.password)


def test_an_admin_without_the_right_is_a_privilege_error(
    sm: Any, make_secret: MakeSecret, pg: PostgresServer, pg_user: MakeUser
) -> None:
    user, weak = pg_user(), pg_user()
    master = make_secret(pg.secret(weak.name, weak.password), rotation=False)
    arn = make_secret(pg.secret(user.name, user.password, masterarn=master))
    error = failed(arn, ROTATION_STRATEGY="single-user-via-admin")
    assert error.failure is Failure.PRIVILEGE
    assert str(error).startswith(f"privilege failure: running SQL as user {weak.name!r}")
    assert pg.logs_in(user.name, user.password)


def test_a_user_without_connect_on_the_database_is_a_privilege_error(
    sm: Any, make_secret: MakeSecret, pg: PostgresServer, pg_user: MakeUser
) -> None:
    user = pg_user()
    database = sql.Identifier(f"closed_{user.name}")
    pg.execute(sql.SQL("CREATE DATABASE {}").format(database))
    pg.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(database))
    arn = make_secret(pg.secret(user.name, user.password, dbname=f"closed_{user.name}"))
    error = failed(arn)
    assert error.failure is Failure.PRIVILEGE
