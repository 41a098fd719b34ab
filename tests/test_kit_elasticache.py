"""The conformance kit on the ElastiCache user rotator, single-user and dual-password, with
`ControlPlaneOnRedis` as the ElastiCache API (moto has no ModifyUser): each ModifyUser sets the
passwords of a user of the suite's Redis, applied asynchronously, so every login the kit checks
is a real AUTH on the server. The kit crashes before and after each ModifyUser (and each
Secrets Manager write); a crash after it leaves the change still applying."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from elasticache_fixtures import ControlPlaneOnRedis
from helpers import new_password

from smrotate.rotators.elasticache import ElastiCacheUserRotator
from smrotate.store import Secret
from smrotate.testing.kit import ConformanceSuite, Subject
from smrotate.testing.kit.world import World
from smrotate.testing.redis import RedisServer

pytestmark = pytest.mark.redis

ORDINARY = "~kit:* &kit:* +@all -@dangerous"  # no ACL right is needed: the API sets passwords


@pytest.fixture
def plane(redis_server: RedisServer) -> Iterator[ControlPlaneOnRedis]:
    """The stand-in on the suite's Redis; the users the kit made are dropped after each test."""
    made = ControlPlaneOnRedis(redis_server, polls=2)
    yield made
    made.close()


def cache_subject(server: RedisServer, plane: ControlPlaneOnRedis, strategy: str) -> Subject:
    def make_secret(world: World) -> Secret:
        name, password = world.unique_name("kit"), new_password()
        key = "id-" + "".join(c if c.isalnum() else "-" for c in name)
        plane.create(key, name, password, ORDINARY)
        return server.secret(name, password, user_id=key)

    return Subject(
        name=f"elasticache {strategy}",
        rotator=lambda env: ElastiCacheUserRotator(
            env=env, control_plane=plane, sleep=lambda seconds: None
        ),
        make_secret=make_secret,
        logs_in=lambda s: server.accepts(s["username"], s["password"]),  # no redis-py
        strategy=strategy,
        write_points=((ControlPlaneOnRedis, "modify_user"),),
        race_in_processes=False,  # the stand-in's state lives in this process
    )


class TestElastiCacheSingleUser(ConformanceSuite):
    @pytest.fixture
    def subject(self, redis_server: RedisServer, plane: ControlPlaneOnRedis) -> Subject:
        return cache_subject(redis_server, plane, "single-user")


class TestElastiCacheDualPassword(ConformanceSuite):
    @pytest.fixture
    def subject(self, redis_server: RedisServer, plane: ControlPlaneOnRedis) -> Subject:
        return cache_subject(redis_server, plane, "dual-password")
