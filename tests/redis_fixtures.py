"""The suite's private Redis server: ACL users with passwords over TLS, started once per worker.

`redis_server` runs in a folder under the run's temporary folder, so that the check at the end
of the run (tests/conftest.py) finds it if it outlives the suite. The `default` user is off:
nothing runs without a login. `redis_user` makes a fresh user with a random password and drops
it after the test.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from helpers import new_password
from shared import started

from smrotate.testing.redis import RedisServer, RedisSetupError
from smrotate.testing.tls import Pki


@pytest.fixture(scope="session")
def redis_server(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """The suite's Redis: TLS only, the default user off, an admin with a random password."""
    try:
        server = started(RedisServer.start(pki, folder=tmp_path_factory.mktemp("redis")))
    except RedisSetupError as exc:
        pytest.fail(f"the suite's Redis server did not start: {exc}", pytrace=False)
    yield server
    server.stop()


@dataclass(frozen=True)
class RedisUser:
    """A user on the suite's server and its current password."""

    name: str
    password: str


MakeRedisUser = Callable[[], RedisUser]


@pytest.fixture
def redis_user(redis_server: RedisServer) -> Iterator[MakeRedisUser]:
    """`redis_user()` creates a user with every right and a random password; dropped after."""
    made: list[str] = []

    def make() -> RedisUser:
        user = RedisUser(f"app_{secrets.token_hex(4)}", new_password())
        redis_server.create_user(user.name, user.password)
        made.append(user.name)
        return user

    yield make
    redis_server.drop_user(*made)
