"""`cancel --cleanup` of an alternating rotation leaves no live password that only an
unlabelled version holds (issue 10, low item of defect 12).

The attack: an alternating rotation stops after setSecret (the inactive user, the clone, now
has the pending password); an operator discards it. Before the fix the clone kept that
password, which no label pointed at any more: whoever had read AWSPENDING (the attacker can
read the secret) kept a working login that no rotation would ever change. The test checks on
the real server that the discarded password is refused afterwards, that AWSCURRENT still logs
in, and that the next rotation works.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import MakeSecret, enable_rotation
from helpers import value
from pg_fixtures import PgUser
from pg_helpers import rotator

from smrotate.events import Step
from smrotate.operator.cleanup import Decision, cancel
from smrotate.operator.driver import LocalDriver
from smrotate.testing.postgres import PostgresServer

pytestmark = pytest.mark.postgres
ALTERNATING = {"ROTATION_STRATEGY": "alternating-users"}


def test_discarding_an_alternating_rotation_resets_the_clones_live_password(
    sm: Any,
    make_secret: MakeSecret,
    pg: PostgresServer,
    pg_user: Any,
    pg_admin_secret: str,
) -> None:
    base: PgUser = pg_user()
    arn = make_secret(pg.secret(base.name, base.password, masterarn=pg_admin_secret))
    rot = rotator(**ALTERNATING)
    driver = LocalDriver(rot.handle)
    assert driver.rotate(arn).ok  # the clone exists and is AWSCURRENT; base is AWSPREVIOUS
    current = value(sm, arn)
    half = driver.rotate(arn, steps=(Step.CREATE, Step.SET))
    assert half.error is None
    pending = value(sm, arn, "AWSPENDING")
    assert pending["username"] == base.name
    assert pg.logs_in(base.name, pending["password"])  # setSecret ran: the base has it now

    report = cancel(rot.store, arn, cleanup=True, dry_run=False, rotator=rotator(**ALTERNATING))

    assert report.plan is not None
    assert report.plan.decision is Decision.DISCARD
    assert report.retired
    assert not pg.logs_in(base.name, pending["password"])  # the discarded password is dead
    assert pg.logs_in(current["username"], current["password"])  # AWSCURRENT untouched
    enable_rotation(arn)
    assert LocalDriver(rotator(**ALTERNATING).handle).rotate(arn).ok
    after = value(sm, arn)
    assert after["username"] == base.name
    assert pg.logs_in(base.name, after["password"])


def test_discarding_before_set_secret_changes_nothing(
    sm: Any, make_secret: MakeSecret, pg: PostgresServer, pg_user: Any, pg_admin_secret: str
) -> None:
    base: PgUser = pg_user()
    arn = make_secret(pg.secret(base.name, base.password, masterarn=pg_admin_secret))
    rot = rotator(**ALTERNATING)
    assert LocalDriver(rot.handle).rotate(arn).ok
    half = LocalDriver(rot.handle).rotate(arn, steps=(Step.CREATE,))
    assert half.error is None
    report = cancel(rot.store, arn, cleanup=True, dry_run=False, rotator=rotator(**ALTERNATING))
    assert report.plan is not None
    assert report.plan.decision is Decision.DISCARD
    assert not report.retired
    assert pg.logs_in(base.name, base.password)  # AWSPREVIOUS, the base, still works
