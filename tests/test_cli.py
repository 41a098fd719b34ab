"""The CLI's common ground on moto server: arguments, AWS settings, errors and exit statuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from moto.core.exceptions import JsonRESTError
from moto.secretsmanager.responses import SecretsManagerResponse
from moto_server_fixtures import Cli, sm_client

from smrotate.operator.cli import main
from smrotate.operator.exit_codes import STATUSES, ExitCode, statuses_table
from smrotate.operator.loading import ROTATOR_CHOICES

ROOT = Path(__file__).resolve().parent.parent
VALUE = {"username": "app", "password": "app-password-1"}

pytestmark = pytest.mark.usefixtures("cli_globals")  # the CLI's log settings, restored


def make(url: str, name: str = "app/db", value: dict[str, Any] | None = None) -> str:
    return str(
        sm_client(url).create_secret(Name=name, SecretString=json.dumps(value or VALUE))["ARN"]
    )


def test_help_lists_every_command_and_the_exit_statuses(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("rotate", "cancel", "status", "run", "demo", "fleet"):
        assert command in out
    assert "13 cleanup refused" in out


def test_the_exit_status_table_in_the_docs_is_exit_codes_table() -> None:
    assert set(STATUSES) == set(ExitCode)
    text = (ROOT / "docs" / "cli.md").read_text()
    section = text.split("\n## Exit statuses\n", 1)[1].split("\n## ", 1)[0]
    table = "\n".join(line for line in section.splitlines() if line.startswith("|"))
    assert table == statuses_table(), "docs/cli.md: paste statuses_table() from exit_codes.py"


def test_usage_errors_exit_2_and_name_the_problem(cli: Cli) -> None:
    bad = cli("rotate", "app/db", "--days", "7", "--schedule", "rate(7 days)")
    assert bad.code == ExitCode.USAGE
    assert "not allowed with argument" in bad.err
    bad = cli("rotate", "app/db", "--schedule", "every tuesday")
    assert bad.code == ExitCode.USAGE
    assert "neither rate(N hours|days) nor cron(" in bad.err
    bad = cli("rotate", "app/db", "--schedule", "rate(1 hours)")
    assert (bad.code, "at least 4 hours" in bad.err) == (ExitCode.USAGE, True)
    bad = cli("rotate", "app/db", "--duration", "3h")
    assert (bad.code, "give --schedule or --days" in bad.err) == (ExitCode.USAGE, True)
    bad = cli("rotate", "app/db", "--days", "2000")
    assert (bad.code, "--days must be 1 to 1000" in bad.err) == (ExitCode.USAGE, True)
    bad = cli("rotate", "app/db", "--lambda-arn", "my-function")
    assert (bad.code, "must be a Lambda function ARN" in bad.err) == (ExitCode.USAGE, True)
    bad = cli("rotate", "app/db", "--timeout", "5")
    assert (bad.code, "only with --wait" in bad.err) == (ExitCode.USAGE, True)
    bad = cli("rotate", "app/db", "--wait", "--no-immediately")
    assert (bad.code, "nothing to wait for" in bad.err) == (ExitCode.USAGE, True)
    bad = cli("status", "app db")
    assert (bad.code, "without spaces" in bad.err) == (ExitCode.USAGE, True)
    bad = cli("fleet", "--filter", "colour=blue")
    assert (bad.code, "KEY one of all, description, name" in bad.err) == (ExitCode.USAGE, True)
    bad = cli("fleet", "--health", "sick")
    assert (bad.code, "not one of stuck, in-progress" in bad.err) == (ExitCode.USAGE, True)
    bad = cli("run", "app/db", "--rotator", "nosuchmodule:Rotator")
    assert bad.code == ExitCode.USAGE
    assert "cannot import rotator module 'nosuchmodule'" in bad.err
    bad = cli("run", "app/db", "--rotator", "json:JSONDecoder")
    assert (bad.code, "is not a Rotator subclass" in bad.err) == (ExitCode.USAGE, True)
    bad = cli("run", "app/db", "--rotator", "postgres")
    assert (bad.code, f"not {ROTATOR_CHOICES}" in bad.err) == (ExitCode.USAGE, True)


def test_unknown_secret_exits_3_with_what_to_check(cli: Cli) -> None:
    result = cli("status", "no/such/secret")
    assert result.code == ExitCode.NOT_FOUND
    assert "ResourceNotFoundException" in result.err
    assert "--region, --profile" in result.err
    assert result.out == ""


def test_missing_credentials_exit_4_and_say_how_to_configure(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = cli("status", "app/db")
    assert result.code == ExitCode.CREDENTIALS
    assert "no AWS credentials found" in result.err
    assert "AWS_PROFILE" in result.err
    assert "AWS_ACCESS_KEY_ID" in result.err


def test_unknown_profile_and_missing_region_exit_4(
    cli: Cli, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = cli("status", "app/db", "--profile", "nosuchprofile")
    assert result.code == ExitCode.CREDENTIALS
    assert "AWS profile 'nosuchprofile' is not in the AWS config files" in result.err
    make(moto_url, "app/db")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    result = cli("status", "app/db")
    assert result.code == ExitCode.CREDENTIALS
    assert "no AWS region: pass --region" in result.err
    assert cli("status", "app/db", "--region", "us-east-1").code == 0


def test_profile_and_region_options_reach_the_client(
    cli: Cli, moto_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    config = tmp_path / "config"
    config.write_text(
        "[profile ops]\nregion = eu-west-1\naws_access_key_id = opskey\n"
        "aws_secret_access_key = opssecret\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    boto3.client("secretsmanager", endpoint_url=moto_url, region_name="eu-west-1").create_secret(
        Name="eu/db", SecretString=json.dumps(VALUE)
    )
    result = cli("status", "eu/db", "--profile", "ops", "--output", "json")
    assert result.code == 0, result.err
    assert ":eu-west-1:" in result.json()[0]["arn"]
    assert cli("status", "eu/db", "--profile", "ops", "--region", "us-east-1").code == 3


def test_access_denied_exits_5(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(self: Any) -> str:
        raise JsonRESTError(
            "AccessDeniedException",
            "User: arn:aws:iam::123456789012:user/ops is not authorized to perform: "
            "secretsmanager:DescribeSecret",
        )

    monkeypatch.setattr(SecretsManagerResponse, "describe_secret", denied)
    result = cli("status", "app/db")
    assert result.code == ExitCode.ACCESS_DENIED
    assert "not authorized to perform: secretsmanager:DescribeSecret" in result.err
    assert "grant it the secretsmanager permission" in result.err


@pytest.fixture
def throttled(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """DescribeSecret answers ThrottlingException `budget[0]` times, then normally; no backoff
    sleeps (botocore's delay is zeroed, its retry decisions are not)."""
    from botocore.retries.standard import ExponentialBackoff

    budget = [0, 0]  # throttles left, requests seen
    original = SecretsManagerResponse.describe_secret

    def describe(self: Any) -> str:
        budget[1] += 1
        if budget[0] > 0:
            budget[0] -= 1
            raise JsonRESTError("ThrottlingException", "Rate exceeded")
        return original(self)

    monkeypatch.setattr(SecretsManagerResponse, "describe_secret", describe)
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0)
    return budget


def test_throttling_is_retried_with_the_standard_mode(
    cli: Cli, moto_url: str, throttled: list[int]
) -> None:
    make(moto_url)
    throttled[0] = 2
    result = cli("status", "app/db")
    assert result.code == 0, result.err
    assert throttled[1] == 3  # two throttled attempts, then the answer


def test_throttling_that_outlasts_the_retries_exits_6(
    cli: Cli, moto_url: str, throttled: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    make(moto_url)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    throttled[0] = 10
    result = cli("status", "app/db")
    assert result.code == ExitCode.THROTTLED
    assert throttled[1] == 3
    assert "ThrottlingException" in result.err
    assert "retried with backoff" in result.err


def test_the_profiles_max_attempts_is_honoured(
    cli: Cli, moto_url: str, throttled: list[int], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """As in the aws CLI: the profile's max_attempts, unless AWS_MAX_ATTEMPTS is set."""
    make(moto_url)
    config = tmp_path / "config"
    config.write_text("[default]\nretry_mode = standard\nmax_attempts = 2\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    throttled[0] = 10
    assert cli("status", "app/db").code == ExitCode.THROTTLED
    assert throttled[1] == 2
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "4")
    throttled[:] = [10, 0]
    assert cli("status", "app/db").code == ExitCode.THROTTLED
    assert throttled[1] == 4
    config.write_text("[default]\nretry_mode = eventually\n")
    result = cli("status", "app/db")
    assert result.code == ExitCode.USAGE
    assert "retry_mode in AWS profile 'default' must be one of legacy" in result.err


def test_bad_retry_settings_are_usage_errors(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "lots")
    result = cli("status", "app/db")
    assert (result.code, "AWS_MAX_ATTEMPTS must be a whole number" in result.err) == (2, True)


def test_unreachable_endpoint_exits_8(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    from smrotate.testing.aws import free_port

    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    code = main(["status", "app/db", "--endpoint-url", f"http://127.0.0.1:{free_port()}"])
    assert code == ExitCode.SERVICE
    assert "Could not connect to the endpoint URL" in capsys.readouterr().err


def test_demo_reports_a_missing_module_clearly(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    real = importlib.import_module

    def missing(name: str, package: str | None = None) -> Any:
        if name == "smrotate.operator.demo":
            raise ModuleNotFoundError(
                "No module named 'smrotate.operator.demo'", name="smrotate.operator.demo"
            )
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", missing)
    result = cli("demo", endpoint=False)
    assert result.code == ExitCode.ERROR
    assert "smrotate demo is not available in this install" in result.err


def test_demo_passes_its_arguments_on(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    seen: list[list[str] | None] = []

    def demo_main(argv: list[str] | None = None) -> int:
        seen.append(argv)
        return 0

    module = types.ModuleType("smrotate.operator.demo")
    module.main = demo_main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "smrotate.operator.demo", module)
    assert cli("demo", "--keep", endpoint=False).code == 0
    assert seen == [["--keep"]]


def test_console_script_runs_with_documented_exit_statuses(moto_url: str) -> None:
    env = {**os.environ, "SECRETS_MANAGER_ENDPOINT": moto_url}
    script = Path(sys.executable).parent / "smrotate"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "smrotate.operator.cli"]
    done = subprocess.run(
        [*command, "status", "no/such"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == ExitCode.NOT_FOUND, done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith("smrotate: error: Secrets Manager DescribeSecret")
    make(moto_url, "app/db")
    done = subprocess.run(
        [*command, "status", "app/db", "--output", "json"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    [record] = json.loads(done.stdout)
    assert record["name"] == "app/db"
    assert VALUE["password"] not in done.stdout + done.stderr


def test_connection_options_work_before_the_command_too(
    moto_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    make(moto_url)
    code = main(["--endpoint-url", moto_url, "--output", "json", "status", "app/db"])
    assert code == 0
    [record] = json.loads(capsys.readouterr().out)
    assert record["name"] == "app/db"


def test_shipped_rotators_load_by_name() -> None:
    from smrotate.operator.loading import rotator_class

    assert rotator_class("postgresql").__name__ == "PostgreSQLRotator"
    assert rotator_class("mysql").__name__ == "MySQLRotator"
    assert rotator_class("memory:MemoryRotator").__name__ == "MemoryRotator"


# --------------------------------------------------------------- the aws CLI's conventions


def test_query_and_text_output_work_as_in_the_aws_cli(cli: Cli, moto_url: str) -> None:
    """--query (JMESPath) on the JSON result; --output text: tab-separated, keys sorted,
    nested values on lines of their own led by their key; a bad query is a usage error."""
    make(moto_url, "app/one")
    make(moto_url, "app/two")
    names = cli("fleet", "--query", "[].name")
    assert (names.code, names.json()) == (0, ["app/one", "app/two"])
    text = cli("fleet", "--output", "text", "--query", "[].[name, rotation_enabled]")
    assert text.out.splitlines() == ["app/one\tFalse", "app/two\tFalse"]
    shown = cli("status", "app/one", "--output", "text").out.splitlines()
    assert shown[0].startswith("arn:aws:secretsmanager:us-east-1:123456789012:secret:app/one-")
    assert "\tdisabled\t" in shown[0]  # the scalars of the record, in key order
    assert [line.split("\t")[:1] for line in shown[1:]] == [["VERSIONS"], ["LABELS"]]
    assert shown[2] == "LABELS\tAWSCURRENT"
    bad = cli("fleet", "--query", "[].name[")
    assert bad.code == ExitCode.USAGE
    assert "--query '[].name[' is not JMESPath" in bad.err


@pytest.mark.usefixtures("shared_target")
def test_debug_logs_the_wire_with_every_secret_scrubbed(cli: Cli, moto_url: str) -> None:
    """--debug: botocore's requests and responses on standard error, GetSecretValue's too; the
    `cli` fixture then finds no stored secret value in any output."""
    from smrotate.testing.aws import enable_rotation

    make(moto_url)
    enable_rotation("app/db")
    result = cli(
        "run", "app/db", "--rotator", "moto_server_fixtures:SharedTargetRotator", "--debug"
    )
    assert result.code == 0, result.err
    assert "botocore" in result.err
    assert "[DEBUG]" in result.err
    assert "GetSecretValue" in result.err
    assert "PutSecretValue" in result.err
    assert '"message":"createSecret succeeded"' in result.err  # the rotator's own INFO lines
    quiet = cli("status", "app/db")
    assert "[DEBUG]" not in quiet.err  # the settings are put back after the run


def test_no_cli_pager_is_accepted_and_completion_prints_shell_code(cli: Cli, moto_url: str) -> None:
    make(moto_url)
    assert cli("status", "app/db", "--no-cli-pager").code == 0
    assert cli("--no-cli-pager", "fleet").code == 0
    code = cli("completion", "bash", endpoint=False)
    assert code.code == 0
    assert "complete" in code.out
    assert "smrotate" in code.out


def test_the_shell_gets_completions_from_the_parser() -> None:
    """argcomplete's protocol, as bash runs it: the words that complete the line on fd 8."""
    env = {
        **os.environ,
        "_ARGCOMPLETE": "1",
        "COMP_TYPE": "9",
        "_ARGCOMPLETE_IFS": "\n",
    }
    smrotate = str(Path(sys.executable).with_name("smrotate"))
    found = {}
    for line in ("smrotate sta", "smrotate fleet --rep"):
        run = subprocess.run(
            ["bash", "-c", f'"{smrotate}" 8>&1 9>/dev/null'],
            env={**env, "COMP_LINE": line, "COMP_POINT": str(len(line))},
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        found[line] = run.stdout.split()
    assert found == {"smrotate sta": ["status"], "smrotate fleet --rep": ["--replicas"]}
