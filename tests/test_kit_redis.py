"""The conformance kit on the Redis rotator, each strategy it offers, against the suite's Redis:
crashes around every command redis-py sends, retries, target failures, racing rotations (from
forked processes too), cancel and cleanup, and a scan of all output for secret values."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers import new_password
from redis.connection import AbstractConnection

from smrotate.rotators.redis import RedisRotator
from smrotate.store import Secret
from smrotate.testing.kit import ConformanceSuite, Subject
from smrotate.testing.kit.attacks import ADMIN_STRATEGIES
from smrotate.testing.kit.world import World
from smrotate.testing.redis import RedisServer

pytestmark = pytest.mark.redis

# What each strategy needs in the user's ACL. Changing one's own password takes ACL SETUSER
# (and nothing more: AUTH needs no right, ACL WHOAMI is the identity check); via the admin, an
# ordinary application user that may run no admin command at all.
SELF_SERVICE = "resetchannels -@all +acl|setuser +acl|whoami"
ORDINARY = "~kit:* &kit:* +@all -@dangerous"


@pytest.fixture
def kit_redis(redis_server: RedisServer) -> Iterator[RedisServer]:
    """The suite's Redis; the users the kit made (kit_*) are dropped after each test."""
    yield redis_server
    redis_server.drop_user(*[name for name in redis_server.users() if name.startswith("kit_")])


def redis_subject(server: RedisServer, strategy: str) -> Subject:
    rules = ORDINARY if strategy in ADMIN_STRATEGIES else SELF_SERVICE

    def new_user(world: World) -> Secret:
        name, password = world.unique_name("kit"), new_password()
        server.create_user(name, password, rules)
        return server.secret(name, password)

    def make_secret(world: World) -> Secret:
        secret = new_user(world)
        if strategy in ADMIN_STRATEGIES:
            secret["masterarn"] = world.put_secret(
                world.unique_name("admin/redis"), server.admin_secret()
            )
        return secret

    return Subject(
        name=f"redis {strategy}",
        rotator=lambda env: RedisRotator(env=env),
        make_secret=make_secret,
        logs_in=lambda s: server.accepts(s["username"], s["password"]),  # no redis-py
        strategy=strategy,
        # Every command redis-py sends (AUTH included) goes through this one method.
        write_points=((AbstractConnection, "send_command"),),
        second_user=(lambda world, _: new_user(world)) if strategy == "alternating-pair" else None,
        race_in_processes=True,  # a server every forked racer reaches
    )


class TestRedisSingleUser(ConformanceSuite):
    @pytest.fixture
    def subject(self, kit_redis: RedisServer) -> Subject:
        return redis_subject(kit_redis, "single-user")


class TestRedisViaAdmin(ConformanceSuite):
    @pytest.fixture
    def subject(self, kit_redis: RedisServer) -> Subject:
        return redis_subject(kit_redis, "single-user-via-admin")


class TestRedisAlternatingPair(ConformanceSuite):
    @pytest.fixture
    def subject(self, kit_redis: RedisServer) -> Subject:
        return redis_subject(kit_redis, "alternating-pair")


class TestRedisDualPassword(ConformanceSuite):
    @pytest.fixture
    def subject(self, kit_redis: RedisServer) -> Subject:
        return redis_subject(kit_redis, "dual-password")
