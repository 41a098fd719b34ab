"""The conformance kit on the MySQL rotator, each strategy, against the suite's MariaDB:
crashes before and after every statement, retries, target failures, racing rotations, and a
scan of all output for secret values."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pymysql.cursors
import pytest
from mariadb_fixtures import drop_users

from smrotate.rotators.mysql import MySQLRotator
from smrotate.store import Secret
from smrotate.testing.kit import ConformanceSuite, Subject
from smrotate.testing.kit.attacks import ADMIN_STRATEGIES
from smrotate.testing.kit.world import World
from smrotate.testing.mariadb import MariaDBServer

pytestmark = pytest.mark.mariadb


@pytest.fixture
def kit_mariadb(mariadb: MariaDBServer) -> Iterator[MariaDBServer]:
    """The suite's MariaDB; the accounts the kit made (kit_*, their clones included) are dropped
    after each test. A crash-point test makes hundreds, and a large user table slows every
    later test that reads it (the attack tests list accounts) by seconds."""
    yield mariadb
    drop_users(mariadb, "kit_")


def mysql_subject(server: MariaDBServer, strategy: str) -> Subject:
    def new_user(world: World) -> Secret:
        name, password = world.unique_name("kit"), "Pw1!" + secrets.token_urlsafe(18)
        server.create_user(name, password, hosts=("%", "127.0.0.1"))
        server.execute("GRANT SELECT ON mysql.db TO %s@%s", (name, "%"))
        return server.secret(name, password)

    def make_secret(world: World) -> Secret:
        secret = new_user(world)
        if strategy in ADMIN_STRATEGIES:
            admin = world.put_secret(world.unique_name("admin/mariadb"), server.admin_secret())
            secret["masterarn"] = admin
        return secret

    return Subject(
        name=f"mysql {strategy}",
        rotator=lambda env: MySQLRotator(env=env),
        make_secret=make_secret,
        logs_in=lambda s: server.logs_in(s["username"], s["password"]),
        strategy=strategy,
        write_points=((pymysql.cursors.Cursor, "execute"),),
        second_user=(lambda world, _: new_user(world)) if strategy == "alternating-pair" else None,
    )


class TestMySQLSingleUser(ConformanceSuite):
    @pytest.fixture
    def subject(self, kit_mariadb: MariaDBServer) -> Subject:
        return mysql_subject(kit_mariadb, "single-user")


class TestMySQLViaAdmin(ConformanceSuite):
    @pytest.fixture
    def subject(self, kit_mariadb: MariaDBServer) -> Subject:
        return mysql_subject(kit_mariadb, "single-user-via-admin")


class TestMySQLAlternating(ConformanceSuite):
    @pytest.fixture
    def subject(self, kit_mariadb: MariaDBServer) -> Subject:
        return mysql_subject(kit_mariadb, "alternating-users")


class TestMySQLAlternatingPair(ConformanceSuite):
    @pytest.fixture
    def subject(self, kit_mariadb: MariaDBServer) -> Subject:
        return mysql_subject(kit_mariadb, "alternating-pair")
