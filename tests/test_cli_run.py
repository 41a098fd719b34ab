"""`smrotate run`: the four steps on this machine through the local driver, on moto server,
with the in-memory target and with the suite's private PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from memory import MemoryTarget
from moto_server_fixtures import Cli, SharedTargetRotator, sm_client
from pg_fixtures import PgUser

from smrotate.accounts import Account
from smrotate.errors import Failure, TargetError
from smrotate.operator.exit_codes import ExitCode
from smrotate.testing.aws import enable_rotation, labels
from smrotate.testing.postgres import PostgresServer

ROTATOR = "moto_server_fixtures:SharedTargetRotator"
OLD = {"username": "app", "password": "app-password-1"}
STEPS = ["createSecret", "setSecret", "testSecret", "finishSecret"]

pytestmark = pytest.mark.usefixtures("cli_globals")  # the CLI's log settings, restored


class LeakyRotator(SharedTargetRotator):
    """Puts the password in its testSecret error: the CLI must never show it."""

    def check_login(self, session: Any, account: Account) -> None:
        raise TargetError(f"query failed for password {account.password}", Failure.OTHER)


def make(url: str, value: dict[str, Any] | None = None) -> str:
    arn = sm_client(url).create_secret(Name="app/db", SecretString=json.dumps(value or OLD))
    enable_rotation("app/db")
    return str(arn["ARN"])


def current(url: str, arn: str) -> dict[str, Any]:
    response = sm_client(url).get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")
    return dict(json.loads(response["SecretString"]))


def test_run_prints_each_step_and_rotates(
    cli: Cli, moto_url: str, shared_target: MemoryTarget
) -> None:
    arn = make(moto_url)
    result = cli("run", "app/db", "--rotator", ROTATOR)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert [line.split()[:2] for line in lines[:4]] == [[step, "ok"] for step in STEPS]
    token = lines[4].split()[2]
    assert lines[4] == f"rotated: version {token} is AWSCURRENT"
    assert labels(arn)[token] == ["AWSCURRENT"]
    assert shared_target.check("app", current(moto_url, arn)["password"])
    assert not shared_target.check("app", OLD["password"])


def test_run_stops_at_the_failed_step_and_resume_finishes_it(
    cli: Cli, moto_url: str, shared_target: MemoryTarget
) -> None:
    arn = make(moto_url)
    shared_target.down = True
    failed = cli("run", "app/db", "--rotator", ROTATOR)
    assert failed.code == ExitCode.ROTATION_FAILED
    assert failed.out.splitlines()[0].split()[:2] == ["createSecret", "ok"]
    assert failed.out.splitlines()[1].split()[:2] == ["setSecret", "FAILED"]
    assert "TargetError: network failure: memory target at memory:0 is unreachable" in failed.out
    resume = next(line for line in failed.err.splitlines() if line.startswith("resume it:"))
    token = resume.split()[-1]
    assert resume == f"resume it: smrotate run app/db --rotator {ROTATOR} --resume {token}"

    again = cli("run", "app/db", "--rotator", ROTATOR)
    assert again.code == ExitCode.REFUSED
    assert f"version {token} holds AWSPENDING. Resume it with --resume {token}" in again.err

    shared_target.down = False
    done = cli("run", "app/db", "--rotator", ROTATOR, "--resume", token, "--output", "json")
    assert done.code == 0, done.err
    record = done.json()
    assert record["ok"] is True
    assert record["version_id"] == token
    assert [s["step"] for s in record["steps"]] == STEPS
    assert labels(arn)[token] == ["AWSCURRENT"]


def test_run_applies_the_strategy_option(
    cli: Cli, moto_url: str, shared_target: MemoryTarget
) -> None:
    make(moto_url)
    bad = cli("run", "app/db", "--rotator", ROTATOR, "--strategy", "double-user")
    assert bad.code == ExitCode.USAGE
    assert "--strategy 'double-user' is not one of single-user" in bad.err
    result = cli("run", "app/db", "--rotator", ROTATOR, "--strategy", "single-user-via-admin")
    assert result.code == ExitCode.ROTATION_FAILED
    assert "needs 'masterarn' in the secret" in result.out


def test_run_never_prints_a_password_a_rotator_puts_in_its_error(
    cli: Cli, moto_url: str, shared_target: MemoryTarget
) -> None:
    make(moto_url)
    result = cli("run", "app/db", "--rotator", "test_cli_run:LeakyRotator", "--verbose")
    assert result.code == ExitCode.ROTATION_FAILED
    assert "query failed for password [REDACTED]" in result.out
    assert '"level":"INFO"' in result.err  # --verbose shows the rotator's log lines
    # the cli fixture then checks every output for every stored password


def test_run_of_a_secret_with_rotation_off_says_how_to_turn_it_on(
    cli: Cli, moto_url: str, shared_target: MemoryTarget
) -> None:
    sm_client(moto_url).create_secret(Name="app/db", SecretString=json.dumps(OLD))
    result = cli("run", "app/db", "--rotator", ROTATOR)
    assert result.code == ExitCode.ROTATION_FAILED
    assert "rotation is not enabled for secret app/db" in result.out


@pytest.mark.postgres
def test_run_rotates_a_real_postgresql_password(
    cli: Cli, moto_url: str, pg: PostgresServer, pg_user: Callable[..., PgUser]
) -> None:
    user = pg_user()
    arn = make(moto_url, pg.secret(user.name, user.password))
    result = cli("run", arn, "--rotator", "postgresql")
    assert result.code == 0, result.out + result.err
    assert [line.split()[:2] for line in result.out.splitlines()[:4]] == [
        [step, "ok"] for step in STEPS
    ]
    new = current(moto_url, arn)["password"]
    assert new != user.password
    assert pg.logs_in(user.name, new)
    assert not pg.logs_in(user.name, user.password)
    assert user.password not in result.out + result.err


def test_resume_needs_a_version_of_the_secret(
    cli: Cli, moto_url: str, shared_target: MemoryTarget
) -> None:
    arn = make(moto_url)
    before = labels(arn)
    short = cli("run", "app/db", "--rotator", ROTATOR, "--resume", "abc")
    assert short.code == ExitCode.USAGE
    assert "a version id is 32 to 64 printable characters" in short.err
    unknown = "00000000-0000-4000-8000-00000000beef"
    result = cli("run", "app/db", "--rotator", ROTATOR, "--resume", unknown)
    assert result.code == ExitCode.REFUSED
    assert f"version {unknown} is not a labelled version of secret app/db" in result.err
    assert labels(arn) == before
