"""The conformance kit on the PostgreSQL rotator, each strategy, against the suite's server."""

from __future__ import annotations

import secrets

import psycopg
import pytest

from smrotate.rotators.postgresql import PostgreSQLRotator
from smrotate.store import Secret
from smrotate.testing.kit import ConformanceSuite, Subject
from smrotate.testing.kit.attacks import ADMIN_STRATEGIES
from smrotate.testing.kit.world import World
from smrotate.testing.postgres import PostgresServer

pytestmark = pytest.mark.postgres


def postgresql_subject(pg: PostgresServer, strategy: str) -> Subject:
    def new_role(world: World) -> Secret:
        name, password = world.unique_name("kit"), "Pw1!" + secrets.token_urlsafe(18)
        pg.create_role(name, password)
        return pg.secret(name, password)

    def make_secret(world: World) -> Secret:
        secret = new_role(world)
        if strategy in ADMIN_STRATEGIES:
            secret["masterarn"] = world.put_secret(world.unique_name("admin/pg"), pg.admin_secret())
        return secret

    return Subject(
        name=f"postgresql {strategy}",
        rotator=lambda env: PostgreSQLRotator(env=env),
        make_secret=make_secret,
        logs_in=lambda s: pg.logs_in(s["username"], s["password"]),
        strategy=strategy,
        write_points=((psycopg.Cursor, "execute"),),
        second_user=(lambda world, _: new_role(world)) if strategy == "alternating-pair" else None,
    )


class TestPostgreSQLSingleUser(ConformanceSuite):
    @pytest.fixture
    def subject(self, pg: PostgresServer) -> Subject:
        return postgresql_subject(pg, "single-user")


class TestPostgreSQLViaAdmin(ConformanceSuite):
    @pytest.fixture
    def subject(self, pg: PostgresServer) -> Subject:
        return postgresql_subject(pg, "single-user-via-admin")


class TestPostgreSQLAlternating(ConformanceSuite):
    @pytest.fixture
    def subject(self, pg: PostgresServer) -> Subject:
        return postgresql_subject(pg, "alternating-users")


class TestPostgreSQLAlternatingPair(ConformanceSuite):
    @pytest.fixture
    def subject(self, pg: PostgresServer) -> Subject:
        return postgresql_subject(pg, "alternating-pair")
