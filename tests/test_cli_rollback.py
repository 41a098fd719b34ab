"""`smrotate rollback`: AWSPREVIOUS current again, its password set back through the rotator, on
moto server with the suite's private PostgreSQL and Redis (outcomes checked on the server), and
with the in-memory target for the refusals and the failures midway."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from memory import MemoryTarget, Session
from moto_server_fixtures import Cli, SharedTargetRotator, sm_client
from pg_fixtures import PgUser
from redis_fixtures import MakeRedisUser
from test_cli_run import iam_user  # noqa: F401 (the fixture)

from smrotate.accounts import Account
from smrotate.errors import Failure, TargetError
from smrotate.operator.exit_codes import ExitCode
from smrotate.testing.aws import enable_rotation, labels
from smrotate.testing.iam import UserKey, identity, key_states
from smrotate.testing.postgres import PostgresServer
from smrotate.testing.redis import RedisServer

ROTATOR = "moto_server_fixtures:SharedTargetRotator"
OLD = {"username": "app", "password": "app-password-1"}

pytestmark = pytest.mark.usefixtures("cli_globals")


@pytest.fixture(autouse=True)
def _sts_on_moto(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """STS (the audit line's caller) answered by the moto server, as AWS would answer it."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", moto_url)


def make(url: str, value: dict[str, Any], name: str = "app/db") -> str:
    arn = str(sm_client(url).create_secret(Name=name, SecretString=json.dumps(value))["ARN"])
    enable_rotation(name)
    return arn


def holder(arn: str, label: str) -> str:
    (version,) = [v for v, stages in labels(arn).items() if label in stages]
    return version


def value_at(url: str, arn: str, label: str) -> dict[str, Any]:
    response = sm_client(url).get_secret_value(SecretId=arn, VersionId=holder(arn, label))
    return dict(json.loads(response["SecretString"]))


def rotate(cli: Cli, secret: str, rotator: str, *more: str) -> None:
    done = cli("run", secret, "--rotator", rotator, *more)
    assert done.code == 0, done.out + done.err


def put_previous(url: str, arn: str, value: dict[str, Any]) -> str:
    """What an attacker who may write the secret does: its own value labelled AWSPREVIOUS."""
    version = "00000000-0000-4000-8000-00000000a77a"
    sm_client(url).put_secret_value(
        SecretId=arn,
        ClientRequestToken=version,
        SecretString=json.dumps(value),
        VersionStages=["AWSPREVIOUS"],
    )
    assert holder(arn, "AWSPREVIOUS") == version
    return version


# ------------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
def test_single_user_rollback_sets_the_old_password_back_on_postgresql(
    cli: Cli, moto_url: str, pg: PostgresServer, pg_user: Callable[..., PgUser]
) -> None:
    """Two rotations, a dry run (nothing changes), the rollback (the old password logs in, the
    newer one does not, the labels swapped), then a rotation works again."""
    user = pg_user()
    arn = make(moto_url, pg.secret(user.name, user.password))
    rotate(cli, arn, "postgresql")
    rotate(cli, arn, "postgresql")
    old, new = value_at(moto_url, arn, "AWSPREVIOUS"), value_at(moto_url, arn, "AWSCURRENT")
    v_old, v_new = holder(arn, "AWSPREVIOUS"), holder(arn, "AWSCURRENT")
    before = labels(arn)

    dry = cli("rollback", arn, "--rotator", "postgresql", "--dry-run")
    assert dry.code == 0, dry.out + dry.err
    assert labels(arn) == before
    assert pg.logs_in(user.name, new["password"])
    assert not pg.logs_in(user.name, old["password"])
    assert f"checked: AWSPREVIOUS (version {v_old}) is refused" in dry.out
    assert f"would move AWSPENDING to version {v_old}" in dry.out
    assert "dry run: would roll back" in dry.err

    done = cli("rollback", arn, "--rotator", "postgresql", "--output", "json")
    assert done.code == 0, done.out + done.err
    record = done.json()
    assert record["outcome"] == "rolled_back"
    assert (record["current_version"], record["previous_version"]) == (v_new, v_old)
    assert [step["ok"] for step in record["steps"]] == [True] * 4
    assert labels(arn) == {**before, v_old: ["AWSCURRENT"], v_new: ["AWSPREVIOUS"]}
    assert pg.logs_in(user.name, old["password"])
    assert not pg.logs_in(user.name, new["password"])
    audit = [line for line in done.err.splitlines() if line.startswith("smrotate audit:")]
    assert len(audit) == 2, done.err  # before the first change, and the outcome
    assert "by arn:aws:sts::123456789012:user/moto" in audit[0]
    assert audit[1].endswith("rolled back")
    assert f"AWSCURRENT version {v_new} -> AWSPREVIOUS version {v_old}" in audit[1]

    rotate(cli, arn, "postgresql")
    latest = value_at(moto_url, arn, "AWSCURRENT")
    assert holder(arn, "AWSPREVIOUS") == v_old
    assert pg.logs_in(user.name, latest["password"])
    assert not pg.logs_in(user.name, old["password"])


@pytest.mark.postgres
def test_alternating_users_rollback_leaves_labels_and_both_users_agreeing(
    cli: Cli,
    moto_url: str,
    pg: PostgresServer,
    pg_user: Callable[..., PgUser],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without --strategy the other user is refused; with it, AWSCURRENT names the user of the
    version rolled back to and AWSPREVIOUS the other, and each logs in with its version."""
    user = pg_user()
    admin = sm_client(moto_url).create_secret(
        Name=f"admin/{user.name}", SecretString=json.dumps(pg.admin_secret())
    )
    arn = make(moto_url, pg.secret(user.name, user.password, masterarn=admin["ARN"]))
    strategy = ("--strategy", "alternating-users")
    rotate(cli, arn, "postgresql", *strategy)
    rotate(cli, arn, "postgresql", *strategy)
    old, new = value_at(moto_url, arn, "AWSPREVIOUS"), value_at(moto_url, arn, "AWSCURRENT")
    assert (old["username"], new["username"]) == (user.name + "_clone", user.name)
    v_old, v_new = holder(arn, "AWSPREVIOUS"), holder(arn, "AWSCURRENT")

    wrong = cli("rollback", arn, "--rotator", "postgresql")
    assert wrong.code == ExitCode.REFUSED
    assert "pass --strategy alternating-users)" in wrong.out
    assert holder(arn, "AWSCURRENT") == v_new

    done = cli("rollback", arn, "--rotator", "postgresql", *strategy)
    assert done.code == 0, done.out + done.err
    assert (holder(arn, "AWSCURRENT"), holder(arn, "AWSPREVIOUS")) == (v_old, v_new)
    for secret in (value_at(moto_url, arn, "AWSCURRENT"), value_at(moto_url, arn, "AWSPREVIOUS")):
        assert pg.logs_in(secret["username"], secret["password"])
    rotate(cli, arn, "postgresql", *strategy)  # the pair goes on from the rolled-back user
    assert value_at(moto_url, arn, "AWSCURRENT")["username"] == user.name
    assert value_at(moto_url, arn, "AWSPREVIOUS")["username"] == user.name + "_clone"

    # A rollback abandoned after its first step (AWSPENDING on AWSPREVIOUS's version), then
    # `cancel --cleanup`: the discard must not retire AWSPREVIOUS's credentials.
    previous = value_at(moto_url, arn, "AWSPREVIOUS")
    sm_client(moto_url).update_secret_version_stage(
        SecretId=arn, VersionStage="AWSPENDING", MoveToVersionId=holder(arn, "AWSPREVIOUS")
    )
    monkeypatch.setenv("ROTATION_STRATEGY", "alternating-users")
    cleanup = cli("cancel", arn, "--cleanup", "--rotator", "postgresql")
    assert cleanup.code == 0, cleanup.out + cleanup.err
    assert "retired" not in cleanup.out
    assert not any("AWSPENDING" in stages for stages in labels(arn).values())
    assert value_at(moto_url, arn, "AWSPREVIOUS") == previous
    assert pg.logs_in(previous["username"], previous["password"])


@pytest.mark.postgres
def test_rollback_never_points_the_admin_at_another_user_or_server(
    cli: Cli, moto_url: str, pg: PostgresServer, pg_user: Callable[..., PgUser]
) -> None:
    """The attacker writes AWSPREVIOUS naming another user (with a password of its choice), then
    another server: both refused before any change; the other user's password is unchanged."""
    user, victim = pg_user(), pg_user()
    admin = sm_client(moto_url).create_secret(
        Name=f"admin/{user.name}", SecretString=json.dumps(pg.admin_secret())
    )
    arn = make(moto_url, pg.secret(user.name, user.password, masterarn=admin["ARN"]))
    via_admin = ("--strategy", "single-user-via-admin")
    rotate(cli, arn, "postgresql", *via_admin)
    current = holder(arn, "AWSCURRENT")
    chosen = pg.secret(victim.name, "attacker-chosen-1", masterarn=admin["ARN"])
    forged = put_previous(moto_url, arn, chosen)

    refused = cli("rollback", arn, "--rotator", "postgresql", *via_admin)
    assert refused.code == ExitCode.REFUSED, refused.out + refused.err
    assert f"AWSPREVIOUS (version {forged}) names user {victim.name!r}" in refused.out
    assert "never points the rotator (or the admin) at another user or server" in refused.out
    assert "--strategy" not in refused.out
    assert pg.logs_in(victim.name, victim.password)
    assert not pg.logs_in(victim.name, "attacker-chosen-1")
    assert holder(arn, "AWSCURRENT") == current
    assert not any("AWSPENDING" in stages for stages in labels(arn).values())

    elsewhere = {**value_at(moto_url, arn, "AWSCURRENT"), "host": "db.attacker.example"}
    sm_client(moto_url).put_secret_value(
        SecretId=arn, SecretString=json.dumps(elsewhere), VersionStages=["AWSPREVIOUS"]
    )
    refused = cli("rollback", arn, "--rotator", "postgresql", *via_admin, "--dry-run")
    assert refused.code == ExitCode.REFUSED
    assert "at db.attacker.example" in refused.out
    assert holder(arn, "AWSCURRENT") == current


# ------------------------------------------------------------------------ Redis


@pytest.mark.redis
def test_redis_rollback_single_user_then_dual_password(
    cli: Cli, moto_url: str, redis_server: RedisServer, redis_user: MakeRedisUser
) -> None:
    """single-user: only the old password logs in afterwards. dual-password: both passwords
    still log in, and the next dual-password rotation (which keeps only AWSCURRENT's and the
    new one) works, so the target's order agrees with the labels."""
    user = redis_user()
    arn = make(moto_url, redis_server.secret(user.name, user.password), name="app/cache")
    rotate(cli, "app/cache", "redis")
    rotate(cli, "app/cache", "redis")
    old, new = value_at(moto_url, arn, "AWSPREVIOUS"), value_at(moto_url, arn, "AWSCURRENT")
    done = cli("rollback", "app/cache", "--rotator", "redis")
    assert done.code == 0, done.out + done.err
    assert value_at(moto_url, arn, "AWSCURRENT") == old
    assert redis_server.accepts(user.name, old["password"])
    assert not redis_server.accepts(user.name, new["password"])

    dual = ("--strategy", "dual-password")
    rotate(cli, "app/cache", "redis", *dual)
    rotate(cli, "app/cache", "redis", *dual)
    old, new = value_at(moto_url, arn, "AWSPREVIOUS"), value_at(moto_url, arn, "AWSCURRENT")
    done = cli("rollback", "app/cache", "--rotator", "redis", *dual)
    assert done.code == 0, done.out + done.err
    assert "AWSPREVIOUS still logs in" in done.out
    assert value_at(moto_url, arn, "AWSCURRENT") == old
    assert redis_server.accepts(user.name, old["password"])
    assert redis_server.accepts(user.name, new["password"])
    rotate(cli, "app/cache", "redis", *dual)
    latest = value_at(moto_url, arn, "AWSCURRENT")
    assert redis_server.accepts(user.name, latest["password"])
    assert redis_server.accepts(user.name, old["password"])
    assert not redis_server.accepts(user.name, new["password"])


# ------------------------------------------------- refusals and failures (memory target)


def test_refusals_change_nothing_and_say_what_to_do(
    cli: Cli, moto_url: str, shared_target: MemoryTarget
) -> None:
    """No AWSPREVIOUS; a rotation in progress (the command that resolves it); an unparseable
    AWSPREVIOUS; a rotator without logins. No label changes, no password changes."""
    arn = make(moto_url, OLD)
    none = cli("rollback", "app/db", "--rotator", ROTATOR)
    assert none.code == ExitCode.REFUSED
    assert "no version of secret app/db holds AWSPREVIOUS" in none.out
    assert "no label changed" in none.out

    rotate(cli, "app/db", ROTATOR)
    shared_target.down = True
    failed = cli("run", "app/db", "--rotator", ROTATOR)
    assert failed.code == ExitCode.ROTATION_FAILED
    shared_target.down = False
    pending = holder(arn, "AWSPENDING")
    before, passwords = labels(arn), dict(shared_target.passwords)
    busy = cli("rollback", "app/db", "--rotator", ROTATOR, "--output", "json")
    assert busy.code == ExitCode.REFUSED
    assert busy.json()["outcome"] == "refused"
    assert f"version {pending} holds AWSPENDING" in busy.json()["reason"]
    assert f"--resume {pending}" in busy.json()["reason"]
    assert labels(arn) == before
    cleanup = cli("cancel", "app/db", "--cleanup", "--rotator", ROTATOR)
    assert cleanup.code == 0, cleanup.out + cleanup.err
    enable_rotation("app/db")

    put_previous(moto_url, arn, {"username": "app"})
    before = labels(arn)
    bad = cli("rollback", "app/db", "--rotator", ROTATOR)
    assert bad.code == ExitCode.REFUSED
    assert "a value does not parse: the AWSPREVIOUS value of secret app/db has no" in bad.out
    assert labels(arn) == before
    assert shared_target.passwords == passwords

    usage = cli("rollback", "app/db", "--rotator", "test_cli_run:TokenRotator")
    assert usage.code == ExitCode.REFUSED
    assert "cannot check logins" in usage.out


class BrokenSetRotator(SharedTargetRotator):
    """setSecret fails before it changes anything (a target that refuses the statement)."""

    def set_own_password(self, session: Session, account: Account, password: str) -> None:
        raise TargetError("the statement was refused (test)", Failure.OTHER)


def test_a_failure_midway_leaves_current_working_or_is_resumed(
    cli: Cli, moto_url: str, shared_target: MemoryTarget
) -> None:
    """setSecret fails: AWSCURRENT still logs in, so the rollback removes its AWSPENDING (labels
    as before). testSecret fails after setSecret set the old password: AWSPENDING keeps it (a
    rotation's window), and running rollback again resumes and finishes it."""
    arn = make(moto_url, OLD)
    rotate(cli, "app/db", ROTATOR)
    rotate(cli, "app/db", ROTATOR)
    old, new = value_at(moto_url, arn, "AWSPREVIOUS"), value_at(moto_url, arn, "AWSCURRENT")
    v_old, before = holder(arn, "AWSPREVIOUS"), labels(arn)

    broken = cli("rollback", "app/db", "--rotator", "test_cli_rollback:BrokenSetRotator")
    assert broken.code == ExitCode.ROTATION_FAILED
    assert "setSecret     FAILED" in broken.out
    assert "AWSCURRENT still logs in: the rollback was undone" in broken.out
    assert labels(arn) == before
    assert shared_target.check("app", new["password"])

    SharedTargetRotator.failing_check = True
    failed = cli("rollback", "app/db", "--rotator", ROTATOR)
    assert failed.code == ExitCode.ROTATION_FAILED
    assert "testSecret    FAILED" in failed.out
    assert "AWSCURRENT no longer logs in" in failed.out
    assert f"smrotate rollback app/db --rotator {ROTATOR}" in failed.out
    assert sorted(labels(arn)[v_old]) == ["AWSPENDING", "AWSPREVIOUS"]
    assert shared_target.check("app", old["password"])
    busy = cli("run", "app/db", "--rotator", ROTATOR)
    assert busy.code == ExitCode.REFUSED  # a rollback in progress blocks rotations

    SharedTargetRotator.failing_check = False
    resumed = cli("rollback", "app/db", "--rotator", ROTATOR)
    assert resumed.code == 0, resumed.out + resumed.err
    assert "a rollback was interrupted; this one resumes it" in resumed.out
    assert labels(arn)[v_old] == ["AWSCURRENT"]
    assert shared_target.check("app", old["password"])
    assert not shared_target.check("app", new["password"])


# -------------------------------------------------------------------- IAM access keys


def test_iam_key_rollback_while_the_old_key_works_and_refusal_once_it_is_deactivated(
    cli: Cli,
    moto_url: str,
    iam_user: UserKey,  # noqa: F811 (the fixture imported above)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """AWSPREVIOUS's key still works (nothing deletes it before the next createSecret): the
    rollback makes it AWSCURRENT again. Once it is deactivated, STS refuses it and the rollback
    refuses, naming a rotation as the fix."""
    arn = make(moto_url, iam_user.secret(), name="app/keys")
    rotate(cli, "app/keys", "iam-keys")
    rotate(cli, "app/keys", "iam-keys")
    old, new = value_at(moto_url, arn, "AWSPREVIOUS"), value_at(moto_url, arn, "AWSCURRENT")
    done = cli("rollback", "app/keys", "--rotator", "iam-keys")
    assert done.code == 0, done.out + done.err
    assert value_at(moto_url, arn, "AWSCURRENT") == old
    assert value_at(moto_url, arn, "AWSPREVIOUS") == new
    assert identity(old["access_key_id"], old["secret_access_key"]) == iam_user.arn

    monkeypatch.setenv("IAM_DEACTIVATE_PREVIOUS", "true")
    rotate(cli, "app/keys", "iam-keys")
    previous = value_at(moto_url, arn, "AWSPREVIOUS")
    assert key_states("app-user")[previous["access_key_id"]] == "Inactive"
    before = labels(arn)
    refused = cli("rollback", "app/keys", "--rotator", "iam-keys")
    assert refused.code == ExitCode.REFUSED
    assert "a new rotation is the fix: smrotate run app/keys --rotator iam-keys" in refused.out
    assert labels(arn) == before
