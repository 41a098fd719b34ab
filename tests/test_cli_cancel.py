"""`smrotate cancel [--cleanup]`: the exact cancel-then-cleanup requests (Stubber), and each
decision on moto server with a target that really accepts or refuses the credentials."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from memory import MemoryTarget
from moto_server_fixtures import Cli, sm_client

from smrotate.operator import connection
from smrotate.operator.cli import main
from smrotate.operator.driver import LocalDriver
from smrotate.operator.exit_codes import ExitCode
from smrotate.store import SecretStore, reset_clients
from smrotate.testing.aws import REGION, enable_rotation, labels

ROTATOR = "moto_server_fixtures:SharedTargetRotator"
ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-AbCdEf"
CURRENT = "00000000-0000-4000-8000-000000000001"
PENDING = "00000000-0000-4000-8000-000000000002"
OLD = {"username": "app", "password": "app-password-1"}
NEW = {"username": "app", "password": "app-password-2"}

pytestmark = pytest.mark.usefixtures("cli_globals")  # the CLI's log settings, restored


def described(*, pending: bool = True, enabled: bool = True) -> dict[str, Any]:
    versions: dict[str, list[str]] = {CURRENT: ["AWSCURRENT"]}
    if pending:
        versions[PENDING] = ["AWSPENDING"]
    return {
        "ARN": ARN,
        "Name": "app/db",
        "RotationEnabled": enabled,
        "RotationLambdaARN": "arn:aws:lambda:us-east-1:123456789012:function:rotator",
        "VersionIdsToStages": versions,
    }


def value(version: str, secret: dict[str, str]) -> dict[str, Any]:
    return {
        "ARN": ARN,
        "Name": "app/db",
        "VersionId": version,
        "SecretString": json.dumps(secret),
        "VersionStages": ["AWSCURRENT" if version == CURRENT else "AWSPENDING"],
        "CreatedDate": datetime(2026, 1, 1, tzinfo=UTC),
    }


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch, shared_target: MemoryTarget) -> Iterator[Stubber]:
    reset_clients()
    client = boto3.client("secretsmanager", region_name=REGION)
    stubber = Stubber(client)
    monkeypatch.setattr(connection, "new_client", lambda *args, **kwargs: client)
    with stubber:
        yield stubber
    stubber.assert_no_pending_responses()
    reset_clients()


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    for secret in (OLD, NEW):
        assert secret["password"] not in out + err
    return code, out, err


def cancel_and_describe(stubbed: Stubber, before: dict[str, Any], after: dict[str, Any]) -> None:
    stubbed.add_response("describe_secret", before, {"SecretId": "app/db"})
    stubbed.add_response(
        "cancel_rotate_secret",
        {"ARN": ARN, "Name": "app/db", "VersionId": PENDING},
        {"SecretId": "app/db"},
    )
    stubbed.add_response("describe_secret", after, {"SecretId": "app/db"})


def test_cleanup_discards_pending_when_current_still_logs_in(
    stubbed: Stubber, capsys: pytest.CaptureFixture[str]
) -> None:
    cancel_and_describe(stubbed, described(), described(enabled=False))
    stubbed.add_response(
        "get_secret_value", value(CURRENT, OLD), {"SecretId": ARN, "VersionId": CURRENT}
    )
    stubbed.add_response(
        "update_secret_version_stage",
        {"ARN": ARN, "Name": "app/db"},
        {"SecretId": ARN, "VersionStage": "AWSPENDING", "RemoveFromVersionId": PENDING},
    )
    code, out, err = run(capsys, "cancel", "app/db", "--cleanup", "--rotator", ROTATOR)
    assert code == 0, err
    assert out.splitlines() == [
        "CancelRotateSecret: rotation of secret app/db is now off",
        f"checked: AWSCURRENT (version {CURRENT}) logs in",
        "cleanup: discard the pending version: AWSCURRENT logs in, so the target still accepts "
        f"the current credentials: removing AWSPENDING from version {PENDING} leaves everything "
        "working",
        f"removed AWSPENDING from version {PENDING}",
        "to turn rotation back on: smrotate rotate app/db --wait",
    ]


def test_cleanup_finishes_the_rotation_when_only_pending_logs_in(
    stubbed: Stubber, capsys: pytest.CaptureFixture[str], shared_target: MemoryTarget
) -> None:
    shared_target.passwords["app"] = NEW["password"]  # setSecret had run
    cancel_and_describe(stubbed, described(), described(enabled=False))
    stubbed.add_response(
        "get_secret_value", value(CURRENT, OLD), {"SecretId": ARN, "VersionId": CURRENT}
    )
    stubbed.add_response(
        "get_secret_value", value(PENDING, NEW), {"SecretId": ARN, "VersionId": PENDING}
    )
    stubbed.add_response(
        "update_secret_version_stage",
        {"ARN": ARN, "Name": "app/db"},
        {
            "SecretId": ARN,
            "VersionStage": "AWSCURRENT",
            "MoveToVersionId": PENDING,
            "RemoveFromVersionId": CURRENT,
        },
    )
    stubbed.add_response(
        "update_secret_version_stage",
        {"ARN": ARN, "Name": "app/db"},
        {"SecretId": ARN, "VersionStage": "AWSPENDING", "RemoveFromVersionId": PENDING},
    )
    code, out, err = run(
        capsys, "cancel", "app/db", "--cleanup", "--rotator", ROTATOR, "--output", "json"
    )
    assert code == 0, err
    record = json.loads(out)
    assert record["cancel_called"] is True
    assert record["cancelled_version"] == PENDING
    assert record["cleanup"]["decision"] == "finish"
    assert record["cleanup"]["checks"] == [
        f"AWSCURRENT (version {CURRENT}) is refused",
        f"AWSPENDING (version {PENDING}) passes testSecret's check",
    ]
    assert record["cleanup"]["changes"] == [
        {"action": "move", "label": "AWSCURRENT", "from_version": CURRENT, "to_version": PENDING},
        {"action": "remove", "label": "AWSPENDING", "version": PENDING},
    ]
    assert record["cleanup"]["applied"] is True


def test_cleanup_without_a_rotator_refuses_before_any_change(
    stubbed: Stubber, capsys: pytest.CaptureFixture[str]
) -> None:
    stubbed.add_response("describe_secret", described(), {"SecretId": "app/db"})
    code, out, _ = run(capsys, "cancel", "app/db", "--cleanup")
    assert code == ExitCode.CLEANUP_REFUSED
    assert "CancelRotateSecret not called: cleanup refused before any change" in out
    assert f"version {PENDING} holds AWSPENDING and cannot be checked without --rotator" in out
    assert "AWSCURRENT no longer logs in" in out
    assert "no label changed" in out


def test_dry_run_logs_in_but_changes_nothing(
    stubbed: Stubber, capsys: pytest.CaptureFixture[str], shared_target: MemoryTarget
) -> None:
    shared_target.passwords["app"] = NEW["password"]
    stubbed.add_response("describe_secret", described(), {"SecretId": "app/db"})
    stubbed.add_response(
        "get_secret_value", value(CURRENT, OLD), {"SecretId": ARN, "VersionId": CURRENT}
    )
    stubbed.add_response(
        "get_secret_value", value(PENDING, NEW), {"SecretId": ARN, "VersionId": PENDING}
    )
    code, out, err = run(capsys, "cancel", "app/db", "--cleanup", "--rotator", ROTATOR, "--dry-run")
    assert code == 0, err
    assert "would call CancelRotateSecret: rotation of secret app/db is on" in out
    assert f"would move AWSCURRENT from version {CURRENT} to version {PENDING}" in out
    assert f"would remove AWSPENDING from version {PENDING}" in out
    assert shared_target.changes == []


def test_plain_cancel_warns_about_the_leftover_pending_version(
    stubbed: Stubber, capsys: pytest.CaptureFixture[str]
) -> None:
    cancel_and_describe(stubbed, described(), described(enabled=False))
    code, out, _ = run(capsys, "cancel", "app/db")
    assert code == 0
    assert f"version {PENDING} still holds AWSPENDING: the next rotation fails" in out


def test_cleanup_when_rotation_is_already_off_skips_the_cancel(
    stubbed: Stubber, capsys: pytest.CaptureFixture[str]
) -> None:
    stubbed.add_response("describe_secret", described(enabled=False), {"SecretId": "app/db"})
    stubbed.add_response("describe_secret", described(enabled=False), {"SecretId": "app/db"})
    stubbed.add_response(
        "get_secret_value", value(CURRENT, OLD), {"SecretId": ARN, "VersionId": CURRENT}
    )
    stubbed.add_response(
        "update_secret_version_stage",
        {"ARN": ARN, "Name": "app/db"},
        {"SecretId": ARN, "VersionStage": "AWSPENDING", "RemoveFromVersionId": PENDING},
    )
    code, out, _ = run(capsys, "cancel", "app/db", "--cleanup", "--rotator", ROTATOR)
    assert code == 0
    assert out.startswith("CancelRotateSecret not called: rotation is already off")


def test_cancel_option_misuse_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "cancel", "app/db", "--dry-run")[0] == ExitCode.USAGE
    assert run(capsys, "cancel", "app/db", "--rotator", ROTATOR)[0] == ExitCode.USAGE


# ------------------------------------------------------------------ on moto server


@pytest.fixture
def half_done(moto_url: str, shared_target: MemoryTarget) -> tuple[str, str]:
    """A secret whose local rotation stopped at testSecret (setSecret had changed the password):
    (ARN, pending version)."""
    from moto_server_fixtures import SharedTargetRotator

    arn = sm_client(moto_url).create_secret(Name="app/db", SecretString=json.dumps(OLD))["ARN"]
    enable_rotation("app/db")
    store = SecretStore(sm_client(moto_url))
    SharedTargetRotator.failing_check = True
    result = LocalDriver(SharedTargetRotator(store=store, env={}).handle, store).rotate(arn)
    SharedTargetRotator.failing_check = False
    assert result.failed_step is not None
    assert result.failed_step.value == "testSecret"
    return str(arn), result.token


def test_moto_cleanup_finishes_a_rotation_whose_password_was_already_set(
    cli: Cli, moto_url: str, half_done: tuple[str, str], shared_target: MemoryTarget
) -> None:
    arn, pending = half_done
    old_current = next(v for v, ls in labels(arn).items() if "AWSCURRENT" in ls)
    dry = cli("cancel", "app/db", "--cleanup", "--rotator", ROTATOR, "--dry-run")
    assert dry.code == 0
    assert labels(arn) == {old_current: ["AWSCURRENT"], pending: ["AWSPENDING"]}
    done = cli("cancel", "app/db", "--cleanup", "--rotator", ROTATOR)
    assert done.code == 0, done.err
    assert f"moved AWSCURRENT from version {old_current} to version {pending}" in done.out
    assert labels(arn) == {old_current: ["AWSPREVIOUS"], pending: ["AWSCURRENT"]}
    current = json.loads(
        sm_client(moto_url).get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")[
            "SecretString"
        ]
    )
    assert shared_target.check("app", current["password"])  # the application logs in again
    assert sm_client(moto_url).describe_secret(SecretId=arn)["RotationEnabled"] is False


def test_moto_cleanup_discards_a_rotation_that_never_set_the_password(
    cli: Cli, moto_url: str, shared_target: MemoryTarget
) -> None:
    from moto_server_fixtures import SharedTargetRotator

    arn = sm_client(moto_url).create_secret(Name="app/db", SecretString=json.dumps(OLD))["ARN"]
    enable_rotation("app/db")
    store = SecretStore(sm_client(moto_url))
    shared_target.down = True
    result = LocalDriver(SharedTargetRotator(store=store, env={}).handle, store).rotate(arn)
    shared_target.down = False
    assert result.failed_step is not None
    done = cli("cancel", "app/db", "--cleanup", "--rotator", ROTATOR)
    assert done.code == 0, done.err
    assert f"removed AWSPENDING from version {result.token}" in done.out
    assert "AWSPENDING" not in str(labels(arn))
    assert shared_target.check("app", OLD["password"])


def test_moto_cleanup_refuses_when_neither_version_logs_in(
    cli: Cli, moto_url: str, half_done: tuple[str, str], shared_target: MemoryTarget
) -> None:
    arn, _ = half_done
    shared_target.passwords["app"] = "changed-by-someone-else"
    before = labels(arn)
    result = cli("cancel", "app/db", "--cleanup", "--rotator", ROTATOR)
    assert result.code == ExitCode.CLEANUP_REFUSED
    assert "neither AWSCURRENT nor AWSPENDING logs in" in result.out
    assert "no label changed" in result.out
    assert labels(arn) == before


def test_moto_cleanup_refuses_when_the_target_is_unreachable(
    cli: Cli, moto_url: str, half_done: tuple[str, str], shared_target: MemoryTarget
) -> None:
    arn, _ = half_done
    before = labels(arn)
    shared_target.down = True
    result = cli("cancel", "app/db", "--cleanup", "--rotator", ROTATOR, "--output", "json")
    assert result.code == ExitCode.CLEANUP_REFUSED
    cleanup = result.json()["cleanup"]
    assert cleanup["decision"] == "refuse"
    assert "network failure" in cleanup["reason"]
    assert cleanup["applied"] is False
    assert labels(arn) == before


def test_moto_cleanup_without_rotator_changes_nothing_at_all(
    cli: Cli, moto_url: str, half_done: tuple[str, str]
) -> None:
    arn, _ = half_done
    before = labels(arn)
    result = cli("cancel", "app/db", "--cleanup")
    assert result.code == ExitCode.CLEANUP_REFUSED
    assert labels(arn) == before
    assert sm_client(moto_url).describe_secret(SecretId=arn)["RotationEnabled"] is True


def test_moto_cancel_of_a_secret_without_rotation_is_refused_by_aws(
    cli: Cli, moto_url: str
) -> None:
    sm_client(moto_url).create_secret(Name="app/db", SecretString=json.dumps(OLD))
    result = cli("cancel", "app/db")
    assert result.code == ExitCode.REFUSED
    assert "InvalidRequestException" in result.err


# ------------------------------- restoring a working version (defect 9's races)

RACED = {"username": "app", "password": "app-password-raced"}
LOST = {"username": "app", "password": "app-password-lost"}


def put_version(url: str, version: str, secret: dict[str, str], stages: list[str]) -> None:
    """A version with `stages`; with none, one that holds no label (AWS calls it deprecated)."""
    client = sm_client(url)
    client.put_secret_value(
        SecretId="app/db",
        ClientRequestToken=version,
        SecretString=json.dumps(secret),
        VersionStages=stages or ["scratch"],
    )
    if not stages:
        client.update_secret_version_stage(
            SecretId="app/db", VersionStage="scratch", RemoveFromVersionId=version
        )


@pytest.fixture
def stranded(moto_url: str, shared_target: MemoryTarget) -> dict[str, str]:
    """What two racing rotations left before the fix: the target holds the password of a
    version that lost AWSPENDING (now unlabelled); AWSCURRENT and AWSPENDING are refused."""
    sm_client(moto_url).create_secret(Name="app/db", SecretString=json.dumps(OLD))
    enable_rotation("app/db")
    versions = {"raced": "10000000-0000-4000-8000-00000000000a"}
    versions["pending"] = "10000000-0000-4000-8000-00000000000b"
    put_version(moto_url, versions["raced"], RACED, [])
    put_version(moto_url, versions["pending"], LOST, ["AWSPENDING"])
    versions["current"] = next(v for v, ls in labels("app/db").items() if "AWSCURRENT" in ls)
    shared_target.passwords["app"] = RACED["password"]
    return versions


def test_moto_cleanup_restores_current_to_the_unlabelled_version_that_logs_in(
    cli: Cli, moto_url: str, stranded: dict[str, str], shared_target: MemoryTarget
) -> None:
    dry = cli("cancel", "app/db", "--cleanup", "--rotator", ROTATOR, "--dry-run")
    assert dry.code == 0, dry.err
    assert f"would move AWSCURRENT from version {stranded['current']} to version" in dry.out
    done = cli("cancel", "app/db", "--cleanup", "--rotator", ROTATOR, "--output", "json")
    assert done.code == 0, done.err
    cleanup = done.json()["cleanup"]
    assert cleanup["decision"] == "restore"
    assert cleanup["checks"] == [
        f"AWSCURRENT (version {stranded['current']}) is refused",
        f"AWSPENDING (version {stranded['pending']}) is refused",
        f"the unlabelled version (version {stranded['raced']}) logs in",
    ]
    assert labels("app/db") == {
        stranded["current"]: ["AWSPREVIOUS"],
        stranded["raced"]: ["AWSCURRENT"],
    }
    current = json.loads(
        sm_client(moto_url).get_secret_value(SecretId="app/db", VersionStage="AWSCURRENT")[
            "SecretString"
        ]
    )
    assert shared_target.check("app", current["password"])  # the application logs in again


def test_moto_cleanup_restores_previous_when_only_it_logs_in(
    cli: Cli, moto_url: str, stranded: dict[str, str], shared_target: MemoryTarget
) -> None:
    """AWSCURRENT moved by hand to a version the target never accepted: AWSPREVIOUS is tried
    before any unlabelled version."""
    client = sm_client(moto_url)
    newer = "10000000-0000-4000-8000-00000000000c"
    put_version(moto_url, newer, LOST, [])
    client.update_secret_version_stage(
        SecretId="app/db",
        VersionStage="AWSCURRENT",
        MoveToVersionId=newer,
        RemoveFromVersionId=stranded["current"],
    )  # AWSPREVIOUS follows to the old current version, whose password the target has:
    shared_target.passwords["app"] = OLD["password"]
    done = cli("cancel", "app/db", "--cleanup", "--rotator", ROTATOR)
    assert done.code == 0, done.err
    assert f"checked: AWSPREVIOUS (version {stranded['current']}) logs in" in done.out
    assert labels("app/db")[stranded["current"]] == ["AWSCURRENT"]
    assert "AWSPENDING" not in str(labels("app/db"))


def test_moto_cleanup_never_promotes_a_version_of_another_account(
    cli: Cli, moto_url: str, stranded: dict[str, str], shared_target: MemoryTarget
) -> None:
    """A writer of the secret (the threat model's attacker) leaves an unlabelled version
    naming another account whose password it knows: cleanup does not even try it."""
    put_version(moto_url, "10000000-0000-4000-8000-00000000000d", {**RACED, "username": "x"}, [])
    shared_target.passwords["x"] = RACED["password"]
    shared_target.passwords["app"] = "changed-by-someone-else"
    before = labels("app/db")
    done = cli("cancel", "app/db", "--cleanup", "--rotator", ROTATOR)
    assert done.code == ExitCode.CLEANUP_REFUSED
    assert "neither AWSCURRENT nor AWSPENDING logs in" in done.out
    assert labels("app/db") == before
    assert all(user != "x" for user, _ in shared_target.logins)  # never even tried


def test_moto_cleanup_restores_current_when_no_rotation_is_pending(
    cli: Cli, moto_url: str, stranded: dict[str, str]
) -> None:
    sm_client(moto_url).update_secret_version_stage(
        SecretId="app/db", VersionStage="AWSPENDING", RemoveFromVersionId=stranded["pending"]
    )
    done = cli("cancel", "app/db", "--cleanup", "--rotator", ROTATOR)
    assert done.code == 0, done.err
    assert "cleanup: restore AWSCURRENT to a version that logs in" in done.out
    assert labels("app/db")[stranded["raced"]] == ["AWSCURRENT"]


def test_moto_cleanup_removes_a_claim_left_by_a_dead_rotation(
    cli: Cli, moto_url: str, shared_target: MemoryTarget
) -> None:
    from smrotate.store import claim_label

    sm_client(moto_url).create_secret(Name="app/db", SecretString=json.dumps(OLD))
    enable_rotation("app/db")
    dead = "10000000-0000-4000-8000-00000000000e"
    put_version(moto_url, dead, LOST, [claim_label(dead)])
    done = cli("cancel", "app/db", "--cleanup", "--rotator", ROTATOR)
    assert done.code == 0, done.err
    assert f"removed {claim_label(dead)} from version {dead}" in done.out
    assert dead not in labels("app/db")
