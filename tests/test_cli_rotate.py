"""`smrotate rotate [--wait]`: RotateSecret's exact requests (Stubber), the watch's outcomes, and
a real rotation driven by moto's RotateSecret through its Lambda."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from clock_fixtures import FakeClock
from moto_server_fixtures import Cli, MotoLambda, sm_client

from smrotate.operator import connection, watch
from smrotate.operator.cli import main
from smrotate.operator.exit_codes import ExitCode
from smrotate.store import SecretDescription, SecretStore
from smrotate.testing.aws import REGION, labels
from smrotate.testing.patience import scaled

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-AbCdEf"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:rotator"
CURRENT = "00000000-0000-4000-8000-000000000001"
STUCK = "00000000-0000-4000-8000-00000000dead"
T = "00000000-0000-4000-8000-0000000000aa"
VALUE = {"username": "app", "password": "app-password-1"}

pytestmark = pytest.mark.usefixtures("cli_globals")  # the CLI's log settings, restored


def description(
    versions: dict[str, list[str]] | None = None, *, enabled: bool = True, function: bool = True
) -> dict[str, Any]:
    response: dict[str, Any] = {
        "ARN": ARN,
        "Name": "app/db",
        "RotationEnabled": enabled,
        "VersionIdsToStages": versions or {CURRENT: ["AWSCURRENT"]},
        "LastChangedDate": datetime(2026, 1, 1, tzinfo=UTC),
    }
    if function:
        response["RotationLambdaARN"] = FUNCTION
    return response


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    """The CLI's client, stubbed: every request must be the one the test expects."""
    client = boto3.client("secretsmanager", region_name=REGION)
    stubber = Stubber(client)
    monkeypatch.setattr(connection, "new_client", lambda *args, **kwargs: client)
    with stubber:
        yield stubber
    stubber.assert_no_pending_responses()


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_rotate_sends_every_setting_it_was_given(
    stubbed: Stubber, capsys: pytest.CaptureFixture[str]
) -> None:
    stubbed.add_response("describe_secret", description(function=False), {"SecretId": "app/db"})
    stubbed.add_response(
        "rotate_secret",
        {"ARN": ARN, "Name": "app/db", "VersionId": "00000000-0000-4000-8000-1000000000001"},
        {
            "SecretId": "app/db",
            "ClientRequestToken": ANY,
            "RotationLambdaARN": FUNCTION,
            "RotationRules": {"ScheduleExpression": "cron(0 4 ? * SUN *)", "Duration": "3h"},
            "RotateImmediately": False,
        },
    )
    code, out, err = run(
        capsys,
        "rotate",
        "app/db",
        "--lambda-arn",
        FUNCTION,
        "--schedule",
        "cron(0 4 ? * SUN *)",
        "--duration",
        "3h",
        "--no-immediately",
    )
    assert code == 0, err
    assert out == "00000000-0000-4000-8000-1000000000001\n"
    assert re.search(
        r"rotation of secret app/db configured, not started \(RotateImmediately=false\): Secrets "
        r"Manager creates a pending version [0-9a-f-]{36} holding the current value, runs only "
        r"the function's testSecret step on it",
        err,
    )
    assert "the first rotation runs in the next rotation window" in err
    assert "follow it with" not in err


def test_rotate_without_an_arn_sends_none_so_aws_uses_the_configured_function(
    stubbed: Stubber, capsys: pytest.CaptureFixture[str]
) -> None:
    stubbed.add_response("describe_secret", description(), {"SecretId": "app/db"})
    stubbed.add_response(
        "rotate_secret",
        {"ARN": ARN, "Name": "app/db", "VersionId": "00000000-0000-4000-8000-1000000000002"},
        {"SecretId": "app/db", "ClientRequestToken": ANY, "RotateImmediately": True},
    )
    code, out, _ = run(capsys, "rotate", "app/db", "--output", "json")
    assert code == 0
    record = json.loads(out)
    assert record["version_id"] == "00000000-0000-4000-8000-1000000000002"
    assert record["previous_current"] == CURRENT


def test_rotate_days_become_automatically_after_days(
    stubbed: Stubber, capsys: pytest.CaptureFixture[str]
) -> None:
    stubbed.add_response("describe_secret", description(), {"SecretId": "app/db"})
    stubbed.add_response(
        "rotate_secret",
        {"ARN": ARN, "Name": "app/db", "VersionId": "00000000-0000-4000-8000-1000000000003"},
        {
            "SecretId": "app/db",
            "ClientRequestToken": ANY,
            "RotationRules": {"AutomaticallyAfterDays": 7},
            "RotateImmediately": True,
        },
    )
    assert run(capsys, "rotate", "app/db", "--days", "7")[0] == 0


def test_rotate_refuses_while_a_previous_rotation_is_unfinished_without_calling_aws(
    stubbed: Stubber, capsys: pytest.CaptureFixture[str]
) -> None:
    stuck = description({CURRENT: ["AWSCURRENT"], STUCK: ["AWSPENDING"]})
    stubbed.add_response("describe_secret", stuck, {"SecretId": "app/db"})
    code, out, err = run(capsys, "rotate", "app/db")
    assert code == ExitCode.REFUSED
    assert out == ""
    assert f"a previous rotation of secret app/db isn't complete: version {STUCK}" in err
    assert "smrotate cancel app/db --cleanup --rotator ROTATOR" in err


def test_rotate_without_any_function_is_a_usage_error(
    stubbed: Stubber, capsys: pytest.CaptureFixture[str]
) -> None:
    stubbed.add_response("describe_secret", description(function=False), {"SecretId": "app/db"})
    code, _, err = run(capsys, "rotate", "app/db")
    assert code == ExitCode.USAGE
    assert "has no rotation function; name one with --lambda-arn" in err


def test_rotate_maps_aws_refusals_to_exit_statuses(
    stubbed: Stubber, capsys: pytest.CaptureFixture[str]
) -> None:
    stubbed.add_response("describe_secret", description(), {"SecretId": "app/db"})
    stubbed.add_client_error(
        "rotate_secret",
        "AccessDeniedException",
        "Secrets Manager cannot invoke the specified Lambda function.",
        400,
    )
    code, _, err = run(capsys, "rotate", "app/db")
    assert code == ExitCode.ACCESS_DENIED
    assert "cannot invoke the specified Lambda function" in err
    assert (
        "aws lambda add-permission --function-name rotator --statement-id SecretsManagerRotation "
        "--action lambda:InvokeFunction --principal secretsmanager.amazonaws.com "
        "--source-account 123456789012"
    ) in err
    assert (
        "The identity calling RotateSecret needs secretsmanager:RotateSecret on the secret and "
        "lambda:InvokeFunction on the function"
    ) in err


def test_rotate_no_immediately_json_says_it_did_not_rotate(
    stubbed: Stubber, capsys: pytest.CaptureFixture[str]
) -> None:
    stubbed.add_response("describe_secret", description(), {"SecretId": "app/db"})
    stubbed.add_response(
        "rotate_secret",
        {"ARN": ARN, "Name": "app/db", "VersionId": "00000000-0000-4000-8000-1000000000009"},
        {"SecretId": "app/db", "ClientRequestToken": ANY, "RotateImmediately": False},
    )
    code, out, _ = run(capsys, "rotate", "app/db", "--no-immediately", "--output", "json")
    assert code == 0
    record = json.loads(out)
    assert record["immediately"] is False
    assert record["rotation_function"] == FUNCTION
    assert record["log_group"] == "/aws/lambda/rotator"


@pytest.mark.parametrize(
    ("arn", "group"),
    [
        (FUNCTION, "/aws/lambda/rotator"),
        (FUNCTION + ":live", "/aws/lambda/rotator"),
        ("rotator", "/aws/lambda/rotator"),
        (None, None),
        ("arn:aws:iam::123456789012:role/x", None),
    ],
)
def test_the_log_group_is_named_from_the_function(arn: str | None, group: str | None) -> None:
    assert watch.log_group(arn) == group


def start(stubbed: Stubber, token: str) -> None:
    stubbed.add_response("describe_secret", description(), {"SecretId": "app/db"})
    stubbed.add_response(
        "rotate_secret",
        {"ARN": ARN, "Name": "app/db", "VersionId": token},
        {"SecretId": "app/db", "ClientRequestToken": ANY, "RotateImmediately": True},
    )


def test_wait_follows_the_rotation_until_the_new_version_is_current(
    stubbed: Stubber, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    token = "00000000-0000-4000-8000-1000000000004"
    start(stubbed, token)
    pending = description({CURRENT: ["AWSCURRENT"], token: ["AWSPENDING"]})
    changed = {**pending, "LastChangedDate": datetime(2026, 1, 1, 0, 1, tzinfo=UTC)}
    done = description({CURRENT: ["AWSPREVIOUS"], token: ["AWSCURRENT"]})
    for response in (pending, pending, changed, done):
        stubbed.add_response("describe_secret", response, {"SecretId": "app/db"})
    code, out, err = run(capsys, "rotate", "app/db", "--wait", "--interval", "2")
    assert code == 0, err
    assert out == f"{token}\n"
    progress = [line for line in err.splitlines() if line.startswith("[")]
    waiting = (
        "waiting for the rotation function (createSecret, setSecret, testSecret, then "
        "finishSecret moves AWSCURRENT)"
    )
    assert progress == [
        f"[0 s] version {token}: AWSPENDING; {waiting}",
        f"[4 s] version {token}: AWSPENDING; {waiting}",
        f"[6 s] version {token}: AWSCURRENT",
    ]
    assert "the rotation function's logs: CloudWatch log group /aws/lambda/rotator" in err
    assert f"rotated: version {token} is AWSCURRENT" in err
    assert clock.sleeps == [2, 2, 2]


def test_wait_reports_a_stall_with_exit_11(
    stubbed: Stubber, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    token = "00000000-0000-4000-8000-1000000000005"
    start(stubbed, token)
    pending = description({CURRENT: ["AWSCURRENT"], token: ["AWSPENDING"]})
    for _ in range(4):  # t = 0, 2, 4, 6: stalled at the fourth look
        stubbed.add_response("describe_secret", pending, {"SecretId": "app/db"})
    code, out, _ = run(
        capsys, "rotate", "app/db", "--wait", "--interval", "2", "--stall", "6", "--output", "json"
    )
    assert code == ExitCode.STALLED
    record = json.loads(out)
    assert record["outcome"] == "stalled"
    assert "the rotation function has probably failed" in record["detail"]
    assert "its logs (log group /aws/lambda/rotator) say why" in record["detail"]


def test_wait_times_out_with_exit_12(
    stubbed: Stubber, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    token = "00000000-0000-4000-8000-1000000000006"
    start(stubbed, token)
    for minute in range(3):  # something changes each time, so no stall
        changing = description({CURRENT: ["AWSCURRENT"], token: ["AWSPENDING"]})
        changing["LastChangedDate"] = datetime(2026, 1, 1, 0, minute, tzinfo=UTC)
        stubbed.add_response("describe_secret", changing, {"SecretId": "app/db"})
    code, _, err = run(capsys, "rotate", "app/db", "--wait", "--interval", "5", "--timeout", "10")
    assert code == ExitCode.TIMED_OUT
    assert f"timed out: version {token} is not AWSCURRENT yet" in err
    assert "see: smrotate status app/db" in err


@pytest.mark.parametrize(
    ("second_look", "reason"),
    [
        (description({CURRENT: ["AWSCURRENT"]}), "lost AWSPENDING without becoming AWSCURRENT"),
        (
            description({CURRENT: ["AWSCURRENT"], T: ["AWSPENDING"]}, enabled=False),
            "was turned off before version",
        ),
    ],
)
def test_wait_reports_a_cancelled_rotation_as_failed_with_exit_10(
    stubbed: Stubber,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
    second_look: dict[str, Any],
    reason: str,
) -> None:
    token = T
    start(stubbed, token)
    first = description({CURRENT: ["AWSCURRENT"], token: ["AWSPENDING"]})
    stubbed.add_response("describe_secret", first, {"SecretId": "app/db"})
    stubbed.add_response("describe_secret", second_look, {"SecretId": "app/db"})
    code, _, err = run(capsys, "rotate", "app/db", "--wait")
    assert code == ExitCode.ROTATION_FAILED
    assert reason in err


class ScriptedStore(SecretStore):
    """DescribeSecret answers from a script (for the watch alone)."""

    def __init__(self, answers: list[dict[str, Any]]) -> None:
        super().__init__(client=None)
        self.answers = answers

    def describe(self, secret_id: str) -> SecretDescription:
        return SecretDescription.from_response(self.answers.pop(0))


def test_watch_sends_a_heartbeat_while_nothing_changes() -> None:
    fake = FakeClock()
    pending = description({CURRENT: ["AWSCURRENT"], T: ["AWSPENDING"]})
    store = ScriptedStore([pending] * 20 + [description({T: ["AWSCURRENT"]})])
    lines: list[str] = []
    result = watch.watch(
        store,
        "app/db",
        T,
        timeout=scaled(900),
        stall=300,
        interval=5,
        report=lines.append,
        clock=watch.Clock(now=fake.now, sleep=fake.sleep),
    )
    assert result.outcome is watch.Outcome.ROTATED
    assert result.polls == 21
    assert "[30 s] still waiting; no change for 30 s" in lines
    assert "[60 s] still waiting; no change for 60 s" in lines


# -------------------------------------------------------------- moto's RotateSecret


def test_rotate_wait_on_moto_runs_the_function_and_the_new_version_becomes_current(
    cli: Cli, moto_url: str, moto_lambda: MotoLambda
) -> None:
    arn = sm_client(moto_url).create_secret(Name="app/db", SecretString=json.dumps(VALUE))["ARN"]
    result = cli(
        "rotate", "app/db", "--lambda-arn", moto_lambda.function_arn, "--days", "30", "--wait"
    )
    assert result.code == 0, result.err
    token = result.out.strip()
    assert labels(arn)[token] == ["AWSCURRENT"]
    assert moto_lambda.invoked == ["createSecret", "setSecret", "testSecret", "finishSecret"]
    current = json.loads(
        sm_client(moto_url).get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")[
            "SecretString"
        ]
    )
    assert moto_lambda.target.check("app", current["password"])
    assert not moto_lambda.target.check("app", VALUE["password"])
    assert f"rotated: version {token} is AWSCURRENT" in result.err
    described = sm_client(moto_url).describe_secret(SecretId=arn)
    assert described["RotationLambdaARN"] == moto_lambda.function_arn
    assert described["RotationRules"] == {"AutomaticallyAfterDays": 30}


def test_a_function_failing_inside_moto_rotate_secret_is_reported(
    cli: Cli, moto_url: str, moto_lambda: MotoLambda, monkeypatch: pytest.MonkeyPatch
) -> None:
    sm_client(moto_url).create_secret(Name="app/db", SecretString=json.dumps(VALUE))
    moto_lambda.target.down = True
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    result = cli("rotate", "app/db", "--lambda-arn", moto_lambda.function_arn, "--days", "30")
    assert result.code == ExitCode.SERVICE  # moto runs the function inside RotateSecret: HTTP 500
    assert "RotateSecret on secret app/db failed" in result.err
    assert "<html" not in result.err
    assert moto_lambda.failures == ["setSecret"]


def test_rotate_no_immediately_on_moto_runs_only_test_secret_and_says_so(
    cli: Cli, moto_url: str, moto_lambda: MotoLambda
) -> None:
    arn = sm_client(moto_url).create_secret(Name="app/db", SecretString=json.dumps(VALUE))["ARN"]
    result = cli(
        "rotate",
        "app/db",
        "--lambda-arn",
        moto_lambda.function_arn,
        "--days",
        "30",
        "--no-immediately",
    )
    assert result.code == 0, result.err
    assert moto_lambda.invoked == ["testSecret"]
    assert "configured, not started (RotateImmediately=false)" in result.err
    (pending,) = [v for v, stages in labels(arn).items() if stages == ["AWSPENDING"]]
    assert f"pending version {pending} holding the current value" in result.err
    assert moto_lambda.target.check("app", VALUE["password"])  # nothing changed on the target
    # moto keeps the tested version under AWSPENDING (AWS removes it) and answers the current
    # version's id, which is what standard output shows.
    assert labels(arn)[result.out.strip()] == ["AWSCURRENT"]
