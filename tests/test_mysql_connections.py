"""Connections to MySQL/MariaDB: TLS verified by default (CA and host name), a CA from the
secret or the environment, plaintext only with `"ssl": false` and never as a fallback, and
errors that say whether the network, TLS, the login or a privilege failed."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import MakeSecret
from helpers import rotate, value
from mariadb_fixtures import MakeUser, rotator

from smrotate import redaction
from smrotate.errors import Failure, LoginRefusedError, TargetError
from smrotate.events import Step
from smrotate.operator.driver import LocalDriver
from smrotate.rotators.mysql.session import run
from smrotate.testing.aws import free_port
from smrotate.testing.mariadb import MariaDBServer
from smrotate.testing.tls import Pki

pytestmark = pytest.mark.mariadb


def failed(arn: str, **env: str) -> TargetError:
    """Run a rotation that must fail at setSecret with a TargetError; return the error."""
    result = LocalDriver(rotator(**env).handle).rotate(arn)
    assert result.failed_step is Step.SET, result.error
    assert isinstance(result.error, TargetError), result.error
    return result.error


# ---------------------------------------------------------------- TLS


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"sslrootcert": "other_ca"}, "certificate verify failed"),
        ({"host": "127.0.0.1"}, "IP address mismatch"),  # the certificate names localhost only
        ({"sslrootcert": None}, "certificate verify failed"),  # the system bundle by default
    ],
    ids=["wrong CA", "host name mismatch", "system bundle"],
)
def test_tls_failures_are_tls_errors_and_change_nothing(
    sm: Any,
    make_secret: MakeSecret,
    mariadb: MariaDBServer,
    mariadb_user: MakeUser,
    pki: Pki,
    change: dict[str, Any],
    words: str,
) -> None:
    user = mariadb_user()
    secret = mariadb.secret(user.name, user.password)
    for key, new in change.items():
        if new is None:
            del secret[key]
        else:
            secret[key] = str(pki.other_ca) if new == "other_ca" else new
    error = failed(make_secret(secret))
    assert error.failure is Failure.TLS
    assert words in str(error)
    assert str(error).startswith(f"tls failure: connecting as user {user.name!r} at ")
    assert mariadb.logs_in(user.name, user.password)
    assert value(sm, make_secret(secret))["password"] == user.password


def test_the_ca_bundle_may_come_from_the_environment(
    sm: Any, make_secret: MakeSecret, mariadb: MariaDBServer, mariadb_user: MakeUser, pki: Pki
) -> None:
    user = mariadb_user()
    secret = mariadb.secret(user.name, user.password)
    del secret["sslrootcert"]
    arn = make_secret(secret)
    rotate(arn, rotator(DATABASE_CA_BUNDLE=str(pki.ca)))
    assert mariadb.logs_in(user.name, value(sm, arn)["password"])


def test_a_ca_bundle_replaced_on_disk_is_read_again(
    sm: Any,
    make_secret: MakeSecret,
    mariadb: MariaDBServer,
    mariadb_user: MakeUser,
    pki: Pki,
    tmp_path: Path,
) -> None:
    """The verified context is made once per bundle file, not per connection; a bundle that
    changes (a CA rotated on disk) is read again: here, one that does not sign the server's
    certificate, so the next rotation fails verification and changes nothing."""
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(pki.ca.read_bytes())
    user = mariadb_user()
    arn = make_secret(mariadb.secret(user.name, user.password, sslrootcert=str(bundle)))
    rotate(arn, rotator())
    password = value(sm, arn)["password"]
    bundle.write_bytes(pki.other_ca.read_bytes() + b"\n")  # another CA (and another size)
    error = failed(arn)
    assert error.failure is Failure.TLS
    assert "certificate verify failed" in str(error)
    assert mariadb.logs_in(user.name, password)
    assert value(sm, arn)["password"] == password


@contextmanager
def server_without_tls() -> Iterator[tuple[int, list[bytes]]]:
    """A fake MySQL server whose greeting does not offer TLS; records what clients send."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    received: list[bytes] = []
    caps = 0x1 | 0x200 | 0x8000 | 0x80000  # long password, 4.1 protocol, secure conn., plugin
    greeting = (
        b"\x0a8.0.36-fake\x00"
        + struct.pack("<I", 7)
        + b"abcdefgh\x00"
        + struct.pack("<HBHH", caps & 0xFFFF, 45, 2, caps >> 16)
        + bytes([21])
        + b"\x00" * 10
        + b"ijklmnopqrst\x00"
        + b"mysql_native_password\x00"
    )

    stop = threading.Event()
    listener.settimeout(0.05)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                conn.sendall(struct.pack("<I", len(greeting))[:3] + b"\x00" + greeting)
                try:
                    received.append(conn.recv(4096))
                except OSError:
                    received.append(b"")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], received
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def test_a_server_without_tls_is_refused_and_never_sees_the_password(
    sm: Any, make_secret: MakeSecret, mariadb: MariaDBServer
) -> None:
    with server_without_tls() as (port, received):
        arn = make_secret(mariadb.secret("app", "Pw1!never-sent-anywhere", port=port))
        error = failed(arn)
    assert error.failure is Failure.TLS
    assert "SSL is required but the server doesn't support it" in str(error)
    assert received  # the client connected...
    assert all(data == b"" for data in received)  # ...and sent no login packet: no fallback


def test_plaintext_only_when_the_secret_says_ssl_false(
    sm: Any, make_secret: MakeSecret, mariadb: MariaDBServer, mariadb_user: MakeUser
) -> None:
    user = mariadb_user()
    secret = mariadb.secret(user.name, user.password, ssl=False)
    rot = rotator()
    with rot.open(rot.parse_secret(secret, "the secret")) as session:
        assert run(session, "SHOW SESSION STATUS LIKE 'Ssl_cipher'") == [("Ssl_cipher", "")]
    with rot.open(rot.parse_secret({**secret, "ssl": True}, "the secret")) as session:
        [(_, cipher)] = run(session, "SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        assert cipher.startswith("TLS_")
    arn = make_secret(secret)
    rotate(arn, rot)
    assert mariadb.logs_in(user.name, value(sm, arn)["password"], tls=False)


def test_ssl_false_for_an_account_that_requires_tls_says_so(
    sm: Any,
    make_secret: MakeSecret,
    mariadb: MariaDBServer,
    mariadb_user: MakeUser,
    capsys: pytest.CaptureFixture[str],
) -> None:
    user = mariadb_user()
    mariadb.execute("ALTER USER %s@%s REQUIRE SSL", (user.name, "%"))
    error = failed(make_secret(mariadb.secret(user.name, user.password, ssl=False)))
    assert isinstance(error, LoginRefusedError)
    logged = capsys.readouterr()  # JSON log lines (stdout, or stderr after the CLI ran)
    assert 'the secret says \\"ssl\\": false' in logged.out + logged.err
    assert mariadb.logs_in(user.name, user.password)


# ---------------------------------------------------------------- network, login, privilege


@pytest.mark.parametrize(
    "where",
    [{"port": "closed"}, {"host": "nowhere.invalid"}],
    ids=["nothing listens", "no such host"],
)
def test_an_unreachable_server_is_a_network_error(
    sm: Any, make_secret: MakeSecret, mariadb: MariaDBServer, where: dict[str, str]
) -> None:
    changes = {k: free_port() if v == "closed" else v for k, v in where.items()}
    error = failed(make_secret(mariadb.secret("app", "Pw1!unreachable", **changes)))
    assert error.failure is Failure.NETWORK
    assert "Can't connect to MySQL server" in str(error)


def test_a_wrong_password_everywhere_is_an_authentication_error(
    sm: Any, make_secret: MakeSecret, mariadb: MariaDBServer, mariadb_user: MakeUser
) -> None:
    user = mariadb_user()
    error = failed(make_secret(mariadb.secret(user.name, "Pw1!not-the-password")))
    assert isinstance(error, LoginRefusedError)
    assert "none of AWSCURRENT, AWSPENDING and AWSPREVIOUS" in str(error)


def test_an_admin_without_privileges_is_a_privilege_error(
    sm: Any, make_secret: MakeSecret, mariadb: MariaDBServer, mariadb_user: MakeUser
) -> None:
    weak = mariadb_user()
    master = make_secret(
        mariadb.secret(weak.name, weak.password), name="admin/weak", rotation=False
    )
    user = mariadb_user()
    arn = make_secret(mariadb.secret(user.name, user.password, masterarn=master))
    error = failed(arn, ROTATION_STRATEGY="single-user-via-admin")
    assert error.failure is Failure.PRIVILEGE
    assert str(error).startswith(f"privilege failure: running SELECT as user {weak.name!r} at ")
    assert "SELECT command denied" in str(error)
    assert mariadb.logs_in(user.name, user.password)


def test_a_database_the_user_may_not_use_is_a_privilege_error(
    sm: Any, make_secret: MakeSecret, mariadb: MariaDBServer, mariadb_user: MakeUser
) -> None:
    user = mariadb_user()
    error = failed(make_secret(mariadb.secret(user.name, user.password, dbname="mysql")))
    assert error.failure is Failure.PRIVILEGE
    assert "MySQL error 1044" in str(error)


def test_no_password_reaches_the_output_of_failed_and_good_rotations(
    sm: Any,
    make_secret: MakeSecret,
    mariadb: MariaDBServer,
    mariadb_user: MakeUser,
    mariadb_admin_secret: str,
    pki: Pki,
    capsys: pytest.CaptureFixture[str],
) -> None:
    user = mariadb_user()
    good = make_secret(mariadb.secret(user.name, user.password, masterarn=mariadb_admin_secret))
    rotate(good, rotator(ROTATION_STRATEGY="alternating-users"))
    bad = make_secret(mariadb.secret(user.name, user.password, sslrootcert=str(pki.other_ca)))
    error = failed(bad)
    out = capsys.readouterr()
    texts = [out.out, out.err, str(error), repr(error)]
    passwords = [user.password, mariadb.admin_password, value(sm, good)["password"]]
    assert not any(p in text for p in passwords for text in texts)
    assert not redaction.contains_secret(texts)


def test_an_unreadable_ca_bundle_is_a_tls_error(
    sm: Any, make_secret: MakeSecret, mariadb: MariaDBServer, mariadb_user: MakeUser
) -> None:
    user = mariadb_user()
    secret = mariadb.secret(user.name, user.password, sslrootcert="/nonexistent/ca.pem")
    error = failed(make_secret(secret))
    assert error.failure is Failure.TLS
    assert "cannot read the CA bundle /nonexistent/ca.pem (FileNotFoundError" in str(error)
