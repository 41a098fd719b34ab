"""Connection fields an attacker can write into the secret, refused before any connection.

A NUL in a libpq conninfo value ends it, dropping `sslmode=verify-full` and the CA that
follow; a newline or another control character has no business in a host, user, password,
database or CA path. A lone surrogate cannot be encoded for any driver. A Unix-socket `host`
takes no TLS, so it is refused unless the secret itself says `"ssl": false`. These checks run
in the `Database` schema's parse, before a driver is imported, so no server is needed here; the
servers' side of the NUL attack (no plaintext session) is in test_pg_attacks.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from smrotate.errors import SecretFormatError
from smrotate.rotators.mysql import MySQLRotator
from smrotate.rotators.postgresql import PostgreSQLRotator

BASE: dict[str, Any] = {
    "engine": "postgres",
    "host": "db.example.internal",
    "port": 5432,
    "username": "app",
    "password": "a-password-1",
    "dbname": "app",
}
ROTATORS = [PostgreSQLRotator, MySQLRotator]


Rotators = type[PostgreSQLRotator] | type[MySQLRotator]


def settings(rotator: Rotators, secret: dict[str, Any]) -> Any:
    engine = "postgres" if rotator is PostgreSQLRotator else "mysql"
    return rotator(env={}).parse_secret({**secret, "engine": engine}, "the secret")


@pytest.mark.parametrize("rotator", ROTATORS, ids=["postgresql", "mysql"])
@pytest.mark.parametrize("field", ["host", "username", "password", "dbname", "sslrootcert"])
@pytest.mark.parametrize("character", ["\x00", "\n", "\r", "\x1b", "\x7f", "\x85"])
def test_a_control_character_in_any_connection_field_is_refused(
    rotator: Rotators, field: str, character: str
) -> None:
    secret = {**BASE, "sslrootcert": "/etc/ssl/ca.pem"}
    secret[field] = f"{secret[field][:3]}{character} sslmode=disable"
    with pytest.raises(SecretFormatError) as caught:
        settings(rotator, secret)
    assert repr(field) in str(caught.value)
    assert "control character" in str(caught.value)
    assert "sslmode=disable" not in str(caught.value)  # the value itself is never quoted


@pytest.mark.parametrize("rotator", ROTATORS, ids=["postgresql", "mysql"])
@pytest.mark.parametrize("field", ["username", "password", "host"])
def test_a_lone_surrogate_is_a_clear_error_naming_the_field(rotator: Rotators, field: str) -> None:
    secret = {**BASE, field: "ab\ud800cd"}
    with pytest.raises(SecretFormatError) as caught:
        settings(rotator, secret)
    assert repr(field) in str(caught.value)
    assert "surrogate" in str(caught.value)


@pytest.mark.parametrize("rotator", ROTATORS, ids=["postgresql", "mysql"])
def test_a_unix_socket_host_needs_ssl_false(rotator: Rotators) -> None:
    socket = {**BASE, "host": "/var/run/postgresql"}
    with pytest.raises(SecretFormatError, match="Unix socket"):
        settings(rotator, socket)
    with pytest.raises(SecretFormatError, match="Unix socket"):
        settings(rotator, {**socket, "ssl": True})
    assert settings(rotator, {**socket, "ssl": False}).tls.enabled is False


@pytest.mark.parametrize("rotator", ROTATORS, ids=["postgresql", "mysql"])
def test_ordinary_values_pass(rotator: Rotators) -> None:
    value = settings(rotator, {**BASE, "password": "p@ss w0rd é ü ✓", "username": "ünïcode"})
    assert value.tls.enabled
    assert value.username == "ünïcode"
