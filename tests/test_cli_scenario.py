"""End to end on moto server, through moto's own RotateSecret and Lambda: a rotation fails in
testSecret -> `status` says stuck and names the repair -> `cancel --cleanup` -> `rotate` works."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from moto_server_fixtures import Cli, MotoLambda, SharedTargetRotator, sm_client

from smrotate.operator import cli as cli_module
from smrotate.operator.exit_codes import ExitCode
from smrotate.testing.aws import labels

ROTATOR = "moto_server_fixtures:SharedTargetRotator"
OLD = {"username": "app", "password": "app-password-1"}

pytestmark = pytest.mark.usefixtures("cli_globals")  # the CLI's log settings, restored


def current_password(url: str) -> str:
    response = sm_client(url).get_secret_value(SecretId="app/db", VersionStage="AWSCURRENT")
    return str(json.loads(response["SecretString"])["password"])


@pytest.mark.parametrize("fails_in", ["testSecret", "setSecret"])
def test_stuck_rotation_is_diagnosed_repaired_and_rotation_works_again(
    cli: Cli,
    moto_url: str,
    moto_lambda: MotoLambda,
    monkeypatch: pytest.MonkeyPatch,
    fails_in: str,
) -> None:
    function = moto_lambda.function_arn
    arn = sm_client(moto_url).create_secret(Name="app/db", SecretString=json.dumps(OLD))["ARN"]
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # moto re-runs the rotation on each retry

    # 1. The rotation fails: a missing grant (testSecret) or an unreachable database (setSecret).
    if fails_in == "testSecret":
        SharedTargetRotator.failing_check = True
    else:
        moto_lambda.target.down = True
    failed = cli("rotate", "app/db", "--lambda-arn", function, "--days", "30")
    assert failed.code == ExitCode.SERVICE  # on AWS: 0 now, and the function fails later
    assert moto_lambda.failures == [fails_in]
    [pending] = [v for v, ls in labels(arn).items() if ls == ["AWSPENDING"]]

    # 2. An hour later, status says stuck, since when, and names the repair.
    later = cli_module.now() + timedelta(hours=1)
    monkeypatch.setattr(cli_module, "now", lambda: later)
    status = cli("status", "app/db")
    assert status.code == ExitCode.ATTENTION
    assert "health         STUCK" in status.out
    assert f"version {pending} holds AWSPENDING but not AWSCURRENT since" in status.out
    assert "(60 min ago)" in status.out
    assert "repair         smrotate cancel app/db --cleanup --rotator ROTATOR" in status.out
    blocked = cli("rotate", "app/db")
    assert blocked.code == ExitCode.REFUSED
    assert "isn't complete" in blocked.err

    # 3. The cause is fixed; cleanup checks the logins and repairs without stranding anyone.
    SharedTargetRotator.failing_check = False
    moto_lambda.target.down = False
    repaired = cli("cancel", "app/db", "--cleanup", "--rotator", ROTATOR)
    assert repaired.code == 0, repaired.out + repaired.err
    if fails_in == "testSecret":  # setSecret had run: the database holds the pending password
        assert "cleanup: finish the rotation" in repaired.out
        assert labels(arn)[pending] == ["AWSCURRENT"]
    else:
        assert "cleanup: discard the pending version" in repaired.out
        assert pending not in labels(arn)
    assert moto_lambda.target.check("app", current_password(moto_url))
    assert cli("status", "app/db").code == 0

    # 4. A new rotation works.
    moto_lambda.invoked.clear()
    rotated = cli("rotate", "app/db", "--lambda-arn", function, "--days", "30", "--wait")
    assert rotated.code == 0, rotated.err
    token = rotated.out.strip()
    assert labels(arn)[token] == ["AWSCURRENT"]
    assert moto_lambda.invoked == ["createSecret", "setSecret", "testSecret", "finishSecret"]
    assert moto_lambda.target.check("app", current_password(moto_url))
    final = cli("status", "app/db", "--output", "json")
    assert final.code == 0
    assert final.json()[0]["health"] == "healthy"
