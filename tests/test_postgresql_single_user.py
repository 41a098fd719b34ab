"""Single user and single user via admin on the suite's PostgreSQL: old passwords stop working,
reruns change nothing twice, AWSPREVIOUS recovery, awkward names and passwords, a clean log."""

from __future__ import annotations

import json
import random
import string
from collections.abc import Callable
from typing import Any

import pytest
from conftest import MakeSecret, moto_backend
from helpers import new_token, rotate, set_labels, step_event, value
from pg_fixtures import PgUser
from pg_helpers import alter_role_lines, log_window, rotator

from smrotate.passwords import DEFAULT_EXCLUDED, PasswordPolicy
from smrotate.rotators.postgresql import PostgreSQLRotator
from smrotate.testing.postgres import PostgresServer

pytestmark = pytest.mark.postgres
MakeUser = Callable[..., PgUser]


def test_single_user_three_rotations_reject_each_old_password(
    sm: Any, make_secret: MakeSecret, pg: PostgresServer, pg_user: MakeUser
) -> None:
    user = pg_user()
    arn = make_secret(pg.secret(user.name, user.password))
    rot = rotator()
    old = user.password
    for _ in range(3):
        with log_window(pg) as log:
            rotate(arn, rot)
        new = value(sm, arn)["password"]
        assert new != old
        assert pg.logs_in(user.name, new)
        assert not pg.logs_in(user.name, old)
        assert len(alter_role_lines(log, user.name)) == 1
        assert log.lines(f"{user.name}@postgres LOG:  statement: ALTER ROLE")  # as the user
        old = new
    assert rot.stats == {"connections": 6}  # setSecret and testSecret: one each, none refused


def test_via_admin_sets_the_password_as_the_admin(
    sm: Any, make_secret: MakeSecret, pg: PostgresServer, pg_user: MakeUser, pg_admin_secret: str
) -> None:
    user = pg_user()
    arn = make_secret(pg.secret(user.name, user.password, masterarn=pg_admin_secret))
    rot = rotator(ROTATION_STRATEGY="single-user-via-admin")
    old = user.password
    for _ in range(2):
        with log_window(pg) as log:
            rotate(arn, rot)
        new = value(sm, arn)["password"]
        assert pg.logs_in(user.name, new)
        assert not pg.logs_in(user.name, old)
        [statement] = alter_role_lines(log, user.name)
        assert f"{pg.admin_user}@postgres" in statement
        old = new


@pytest.mark.parametrize("strategy", ["single-user", "single-user-via-admin"])
def test_set_secret_again_changes_nothing_twice(
    sm: Any,
    make_secret: MakeSecret,
    pg: PostgresServer,
    pg_user: MakeUser,
    pg_admin_secret: str,
    strategy: str,
) -> None:
    user = pg_user()
    arn = make_secret(pg.secret(user.name, user.password, masterarn=pg_admin_secret))
    rot = rotator(ROTATION_STRATEGY=strategy)
    token = new_token()
    with log_window(pg) as log:
        for step in ("createSecret", "setSecret", "setSecret", "testSecret", "setSecret"):
            rot.handle(step_event(step, arn, token))
    assert len(alter_role_lines(log, user.name)) == 1
    assert pg.logs_in(user.name, value(sm, arn, "AWSPENDING")["password"])
    assert not pg.logs_in(user.name, user.password)


def test_current_moved_back_by_hand_recovers_through_previous(
    sm: Any, make_secret: MakeSecret, pg: PostgresServer, pg_user: MakeUser
) -> None:
    user = pg_user()
    arn = make_secret(pg.secret(user.name, user.password))
    rot = rotator()
    first = moto_backend().secrets[arn].default_version_id
    second = rotate(arn, rot).token
    set_labels(arn, first, ["AWSCURRENT"])  # an operator moves AWSCURRENT back
    set_labels(arn, second, ["AWSPREVIOUS"])
    assert not pg.logs_in(user.name, value(sm, arn)["password"])
    rotate(arn, rot)
    assert pg.logs_in(user.name, value(sm, arn)["password"])
    assert rot.stats["refused"] == 2  # AWSCURRENT and AWSPENDING, then AWSPREVIOUS logs in


NAMES = [
    'o\'brien "the" app',
    "with space",
    "CamelCase",
    "grüße_ñ_日本",
    "u" * 63,
]


@pytest.mark.parametrize("name", NAMES, ids=["quotes", "space", "capitals", "non-ascii", "63"])
@pytest.mark.parametrize("strategy", ["single-user", "single-user-via-admin"])
def test_awkward_user_names(
    sm: Any,
    make_secret: MakeSecret,
    pg: PostgresServer,
    pg_user: MakeUser,
    pg_admin_secret: str,
    name: str,
    strategy: str,
) -> None:
    user = pg_user(f"{name[:-2]}{strategy[-2:]}")  # one role per strategy, same shape of name
    arn = make_secret(pg.secret(user.name, user.password, masterarn=pg_admin_secret))
    rotate(arn, rotator(ROTATION_STRATEGY=strategy))
    assert pg.logs_in(user.name, value(sm, arn)["password"])
    assert not pg.logs_in(user.name, user.password)


def test_user_name_longer_than_63_bytes_is_a_clear_error(
    sm: Any, make_secret: MakeSecret, pg: PostgresServer
) -> None:
    arn = make_secret(pg.secret("é" * 32, "Pw1!not-used-anyway"))
    result = rotator().handle
    with pytest.raises(Exception, match="64 bytes in UTF-8; PostgreSQL role names hold at most 63"):
        result(step_event("createSecret", arn, new_token()))


class AllCharacters(PostgreSQLRotator):
    """Makes passwords holding every character the policy allows, shuffled."""

    @property
    def password_source(self) -> Callable[[PasswordPolicy], str]:
        def every_character(policy: PasswordPolicy) -> str:
            chars = list("".join(policy.character_classes()))
            random.shuffle(chars)
            password = "".join(chars)
            assert policy.allows(password)
            return password

        return every_character


@pytest.mark.parametrize("excluded", [DEFAULT_EXCLUDED, ""], ids=["default-policy", "nothing"])
def test_passwords_with_every_character_the_policy_allows(
    sm: Any, make_secret: MakeSecret, pg: PostgresServer, pg_user: MakeUser, excluded: str
) -> None:
    allowed = [c for c in string.printable[:94] if c not in excluded]
    env = {"EXCLUDE_CHARACTERS": excluded, "PASSWORD_LENGTH": str(len(allowed))}
    user = pg_user()
    arn = make_secret(pg.secret(user.name, user.password))
    rot = AllCharacters(env=env)
    passwords = []
    for _ in range(2):  # the second rotation logs in with such a password
        rotate(arn, rot)
        passwords.append(value(sm, arn)["password"])
        assert sorted(passwords[-1]) == sorted(allowed)
        assert pg.logs_in(user.name, passwords[-1])
    assert not pg.logs_in(user.name, passwords[0])
    log = pg.log_text()
    assert not any(password in log for password in passwords)


@pytest.mark.parametrize("strategy", ["single-user", "single-user-via-admin", "alternating-users"])
def test_the_server_log_never_holds_a_plaintext_password(
    sm: Any,
    make_secret: MakeSecret,
    pg: PostgresServer,
    pg_user: MakeUser,
    pg_admin_secret: str,
    strategy: str,
) -> None:
    user = pg_user()
    arn = make_secret(pg.secret(user.name, user.password, masterarn=pg_admin_secret))
    with log_window(pg) as log:
        for _ in range(2):
            rotate(arn, rotator(ROTATION_STRATEGY=strategy))
    versions = sm.list_secret_version_ids(SecretId=arn)["Versions"]
    passwords = [
        json.loads(sm.get_secret_value(SecretId=arn, VersionId=v["VersionId"])["SecretString"])[
            "password"
        ]
        for v in versions
    ]
    assert len(set(passwords)) == 3
    assert log.lines("PASSWORD 'SCRAM-SHA-256$4096:")  # the statements were logged, hashed
    full = pg.log_text()
    assert not [password for password in [*passwords, pg.admin_password] if password in full]
