"""The suite's private PostgreSQL server: scram-sha-256 over TLS, started once per run.

`pg` is the strict server (hostssl only); `pg_plain` also admits plaintext (hostnossl, still
scram-sha-256) for the `"ssl": false` tests, and is started only when a test asks for it.
`pg_user` makes a login role with a random password (`pg.secret(...)` makes its secret), and
`pg_admin_secret` stores the superuser's secret for `masterarn`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from helpers import new_password
from shared import started

from smrotate.testing.postgres import PostgresServer, PostgresSetupError
from smrotate.testing.tls import Pki


def _start(pki: Pki, **options: Any) -> PostgresServer:
    try:
        return started(PostgresServer.start(pki, **options))
    except PostgresSetupError as exc:
        pytest.fail(f"the suite's PostgreSQL server did not start: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def pg(pki: Pki) -> Iterator[PostgresServer]:
    """The suite's PostgreSQL: TLS only, scram-sha-256, every statement logged."""
    server = _start(pki)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_plain(pki: Pki) -> Iterator[PostgresServer]:
    """A second server that also admits plaintext connections (scram-sha-256 all the same)."""
    server = _start(pki, allow_plaintext=True)
    yield server
    server.stop()


@dataclass(frozen=True)
class PgUser:
    """A login role on the suite's server and its current password."""

    name: str
    password: str


_names = iter(range(1_000_000))


@pytest.fixture
def pg_user(pg: PostgresServer) -> Callable[..., PgUser]:
    """Make a login role: `pg_user()` for a fresh name, or `pg_user(name, *options)`."""

    def make(name: str | None = None, *options: str) -> PgUser:
        user = PgUser(name or f"app_{next(_names)}_{secrets.token_hex(3)}", new_password())
        pg.create_role(user.name, user.password, *options)
        return user

    return make


@pytest.fixture
def pg_admin_secret(pg: PostgresServer, make_secret: Callable[..., str]) -> str:
    """The ARN of a secret holding the server's superuser (for `masterarn`)."""
    return make_secret(pg.admin_secret(), name=f"admin/pg-{secrets.token_hex(3)}", rotation=False)
