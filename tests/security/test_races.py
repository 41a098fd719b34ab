"""Defect 9, racing rotations: two processes start a rotation of one secret at the same instant.

The attack needs no privilege: whoever may start a rotation (a second scheduler, an operator,
an application that calls `smrotate run`) starts one while another is starting. Before the
fix, the second rotation's PutSecretValue moved AWSPENDING away from the first while the
first was changing the password, and the account was left with no labelled version that logs
in. Each race here runs two `LocalDriver` rotations in two forked processes against the
suite's moto server and the suite's real PostgreSQL or MariaDB, every strategy. After each
race the outcome is checked on the server: AWSCURRENT logs in there, labels are unique, no
AWSPENDING is left behind, and the other rotation was refused before changing anything (or,
when it began only after the first had finished, ran after it: AWSPREVIOUS is the first's).
Every third race is staggered (`STAGGERED`): the first racer is held back just before it
changes the password while the second writes its version, the window that a plain
simultaneous start hits only now and then.

`bench/races.py` runs 200 races per engine and strategy and counts stranded accounts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import MakeSecret
from mariadb_fixtures import MakeUser
from pg_fixtures import PgUser

from smrotate.rotator import Rotator
from smrotate.store import CURRENT, PENDING, PREVIOUS
from smrotate.testing.aws import backend, label_problems, labels
from smrotate.testing.kit.racing import SIMULTANEOUS, STAGGERED, Outcome, can_fork, race
from smrotate.testing.mariadb import MariaDBServer
from smrotate.testing.postgres import PostgresServer

pytestmark = pytest.mark.skipif(not can_fork(), reason="the racers are forked processes")

# Per engine and strategy: one staggered race, then two simultaneous starts. The kit races each
# strategy of every rotator twice more (case_racing_processes); bench/races.py runs 200, which is
# where a rare interleaving is counted, not here.
RACES = 3
STRATEGIES = ("single-user", "single-user-via-admin", "alternating-users")


@dataclass(frozen=True)
class Account:
    """A rotated secret on one engine: its ARN, how to build a racer, how to check a login."""

    arn: str
    build: Callable[[], Rotator]
    logs_in: Callable[[str, str], bool]


def value_at(arn: str, label: str) -> dict[str, Any] | None:
    """The value of the version holding `label`, read from moto's backend (no client, no cache)."""
    secret = backend().secrets[arn]
    for version in secret.versions.values():
        if label in version["version_stages"] and version.get("secret_string"):
            return dict(json.loads(version["secret_string"]))
    return None


def value_version(arn: str, label: str) -> str | None:
    """The version holding `label`."""
    versions = backend().secrets[arn].versions
    return next((v for v, version in versions.items() if label in version["version_stages"]), None)


def check_after_race(account: Account, outcomes: list[Outcome], when: str) -> None:
    """The account is not stranded, and the race was resolved cleanly."""
    summary = f"{when}: " + "; ".join(o.describe() for o in outcomes)
    assert not label_problems(), f"{summary}: labels: {label_problems()}"
    current = value_at(account.arn, CURRENT)
    assert current is not None, f"{summary}: no AWSCURRENT value"
    assert account.logs_in(current["username"], current["password"]), (
        f"{summary}: AWSCURRENT ({current['username']}) does not log in on the server: the "
        f"account is stranded (labels: {labels(account.arn)})"
    )
    assert value_at(account.arn, PENDING) is None, (
        f"{summary}: AWSPENDING was left behind (labels: {labels(account.arn)})"
    )
    done = [o.token for o in outcomes if o.ok]
    if len(done) == 2:  # allowed only one after the other: the second began after the first
        previous = value_version(account.arn, PREVIOUS)
        assert previous in done, f"{summary}: both rotations went through at once"
    for outcome in outcomes:
        assert outcome.ok or outcome.refused, f"{summary}: a racer failed otherwise"


def run_races(account: Account, moto_server: str, races: int = RACES) -> None:
    rotated = 0
    for n in range(races):
        timings = STAGGERED if n % 3 == 0 else SIMULTANEOUS
        kind = "staggered" if timings is STAGGERED else "simultaneous"
        outcomes = race(account.build, moto_server, account.arn, timings)
        check_after_race(account, outcomes, f"race {n + 1} ({kind})")
        rotated += any(o.ok for o in outcomes)
    assert rotated > 0, "no race let a rotation through: the exclusion refuses everything"


# ---------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_postgresql_two_process_races_never_strand_the_account(
    sm: Any,
    make_secret: MakeSecret,
    moto_server: str,
    pg: PostgresServer,
    pg_user: Callable[..., PgUser],
    pg_admin_secret: str,
    strategy: str,
) -> None:
    from smrotate.rotators.postgresql import PostgreSQLRotator

    user = pg_user()
    extra = {} if strategy == "single-user" else {"masterarn": pg_admin_secret}
    arn = make_secret(pg.secret(user.name, user.password, **extra))
    env = {"ROTATION_STRATEGY": strategy}
    account = Account(arn, lambda: PostgreSQLRotator(env=env), pg.logs_in)
    run_races(account, moto_server)


# ---------------------------------------------------------------- MariaDB


@pytest.mark.mariadb
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_mariadb_two_process_races_never_strand_the_account(
    sm: Any,
    make_secret: MakeSecret,
    moto_server: str,
    mariadb: MariaDBServer,
    mariadb_user: MakeUser,
    mariadb_admin_secret: str,
    strategy: str,
) -> None:
    from smrotate.rotators.mysql import MySQLRotator

    user = mariadb_user()
    extra = {} if strategy == "single-user" else {"masterarn": mariadb_admin_secret}
    arn = make_secret(mariadb.secret(user.name, user.password, **extra))
    env = {"ROTATION_STRATEGY": strategy}
    account = Account(arn, lambda: MySQLRotator(env=env), mariadb.logs_in)
    run_races(account, moto_server)
