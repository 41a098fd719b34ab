"""`smrotate rotate`: RotateSecret with the rotation settings, after checking AWS's own rules.

Before calling RotateSecret the CLI describes the secret and refuses, with the repair, what AWS
would refuse less clearly (and moto not at all): a previous rotation that is not complete, a
secret scheduled for deletion, no rotation function. Without --lambda-arn the request carries no
RotationLambdaARN, so on AWS the configured function runs (moto instead erases it). An
AccessDenied from RotateSecret names both grants it needs (`denied`), and `not_immediately`
says what RotateImmediately=false did.
"""

from __future__ import annotations

import re
import shlex
import uuid
from dataclasses import dataclass
from typing import Any

from smrotate.errors import StoreError
from smrotate.labels import rotation_in_progress
from smrotate.operator.exit_codes import DENIED_CODES, CliError, ExitCode
from smrotate.operator.health import duration_hours, rate
from smrotate.operator.watch import function_name
from smrotate.store import SecretDescription, SecretStore

_CRON = re.compile(r"cron\(([^()]+)\)")
_LAMBDA_ARN = re.compile(
    r"arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]+)?"
)
MAX_DAYS = 1000


def check_schedule(expression: str) -> str:
    """A rate() or cron() expression as Secrets Manager takes it; CliError (exit 2) otherwise."""
    expression = expression.strip()
    if len(expression) > 256:
        raise CliError("--schedule is longer than 256 characters", ExitCode.USAGE)
    parsed = rate(expression)
    if parsed is not None:
        count, unit = parsed
        if unit == "hours" and count < 4:
            raise CliError(
                "--schedule rate() in hours must be at least 4 hours (Secrets Manager's limit)",
                ExitCode.USAGE,
            )
        if unit == "days" and not 1 <= count <= MAX_DAYS - 1:
            raise CliError(f"--schedule rate() in days must be 1 to {MAX_DAYS - 1}", ExitCode.USAGE)
        return expression
    cron = _CRON.fullmatch(expression)
    if cron and len(cron.group(1).split()) == 6:
        return expression
    raise CliError(
        f"--schedule {expression!r} is neither rate(N hours|days) nor cron(MIN HOUR DAY MONTH "
        "WEEKDAY YEAR); e.g. --schedule 'rate(30 days)' or --schedule 'cron(0 4 ? * SUN *)'",
        ExitCode.USAGE,
    )


@dataclass(frozen=True)
class RotationSettings:
    """What `rotate` sends besides the secret: the function, the rules, RotateImmediately."""

    lambda_arn: str | None = None
    days: int | None = None
    schedule: str | None = None
    duration: str | None = None
    immediately: bool = True

    def check(self) -> RotationSettings:
        """Validate every field; CliError (exit 2) naming the first problem."""
        if self.lambda_arn is not None and not _LAMBDA_ARN.fullmatch(self.lambda_arn):
            raise CliError(
                "--lambda-arn must be a Lambda function ARN, like "
                "arn:aws:lambda:eu-west-1:123456789012:function:my-rotator",
                ExitCode.USAGE,
            )
        if self.days is not None and self.schedule is not None:
            raise CliError(
                "use --days or --schedule, not both (Secrets Manager takes one)", ExitCode.USAGE
            )
        if self.days is not None and not 1 <= self.days <= MAX_DAYS:
            raise CliError(f"--days must be 1 to {MAX_DAYS}", ExitCode.USAGE)
        if self.schedule is not None:
            check_schedule(self.schedule)
        if self.duration is not None:
            if duration_hours(self.duration) is None:
                raise CliError(
                    "--duration is the rotation window in hours, 1h to 24h (e.g. 3h)",
                    ExitCode.USAGE,
                )
            if self.days is None and self.schedule is None:
                raise CliError(
                    "--duration is a window within a schedule: give --schedule or --days too",
                    ExitCode.USAGE,
                )
        return self

    def rules(self) -> dict[str, Any]:
        """RotationRules: only the keys given (empty: keep the secret's rules)."""
        rules: dict[str, Any] = {}
        if self.days is not None:
            rules["AutomaticallyAfterDays"] = self.days
        if self.schedule is not None:
            rules["ScheduleExpression"] = self.schedule.strip()
        if self.duration is not None:
            rules["Duration"] = self.duration.strip()
        return rules


@dataclass(frozen=True)
class Started:
    """A rotation RotateSecret accepted: the version id it answered, the secret just before, and
    the ClientRequestToken sent (the pending version's id; with RotateImmediately=false moto
    answers the current version's id instead)."""

    token: str
    before: SecretDescription
    sent: str = ""


def preflight(description: SecretDescription, settings: RotationSettings, ref: str) -> None:
    """Refuse what RotateSecret would refuse (or, on moto, get wrong); CliError names the fix."""
    quoted = shlex.quote(ref)
    if description.deleted is not None:
        raise CliError(
            f"secret {description.name} is scheduled for deletion; restore it first "
            f"(aws secretsmanager restore-secret --secret-id {quoted})",
            ExitCode.REFUSED,
        )
    unfinished = description.unfinished
    if unfinished is not None:
        raise CliError(rotation_in_progress(description.name, unfinished, ref), ExitCode.REFUSED)
    if settings.lambda_arn is None and not description.rotation_lambda_arn:
        raise CliError(
            f"secret {description.name} has no rotation function; name one with --lambda-arn "
            "(and a schedule with --days or --schedule)",
            ExitCode.USAGE,
        )


def add_permission_command(function: str, secret_arn: str) -> str:
    """The aws CLI command that lets Secrets Manager, from the secret's account only (read
    from its ARN), invoke `function`."""
    parts = secret_arn.split(":")
    account = parts[4] if len(parts) > 4 and parts[4].isdigit() else "ACCOUNT_ID"
    return (
        f"aws lambda add-permission --function-name {shlex.quote(function)} --statement-id "
        "SecretsManagerRotation --action lambda:InvokeFunction --principal "
        f"secretsmanager.amazonaws.com --source-account {account}"
    )


def denied(secret_arn: str, function_arn: str | None) -> str:
    """What an AccessDenied from RotateSecret means: one of the two grants it needs is missing."""
    command = add_permission_command(function_name(function_arn) or "FUNCTION", secret_arn)
    return (
        "RotateSecret needs two grants. (1) The function's resource policy must let Secrets "
        'Manager invoke it (AWS says "Secrets Manager cannot invoke the specified Lambda '
        f'function" when it does not): {command}. (2) The identity calling RotateSecret needs '
        "secretsmanager:RotateSecret on the secret and lambda:InvokeFunction on the function"
    )


def not_immediately(name: str, token: str) -> str:
    """What RotateSecret with RotateImmediately=false did, for the operator."""
    return (
        f"rotation of secret {name} configured, not started (RotateImmediately=false): Secrets "
        f"Manager creates a pending version {token} holding the current value, runs only the "
        "function's testSecret step on it to test the configuration, then removes it; the first "
        "rotation runs in the next rotation window (`smrotate status` shows when). When this "
        "changed an existing rate() or days schedule, the rotation already scheduled may still "
        "run"
    )


def start(store: SecretStore, secret_id: str, settings: RotationSettings) -> Started:
    """DescribeSecret, the preflight checks, then RotateSecret with a fresh version id.
    AccessDenied from RotateSecret becomes a CliError (exit 5) that names both grants."""
    settings.check()
    before = store.describe(secret_id)
    preflight(before, settings, secret_id)
    token = str(uuid.uuid4())
    try:
        version = store.start_rotation(
            secret_id,
            token=token,
            lambda_arn=settings.lambda_arn,
            rules=settings.rules(),
            immediately=settings.immediately,
        )
    except StoreError as exc:
        if exc.code not in DENIED_CODES:
            raise
        hint = denied(before.arn, settings.lambda_arn or before.rotation_lambda_arn)
        raise CliError(f"{str(exc).rstrip('. ')}. {hint}", ExitCode.ACCESS_DENIED) from None
    return Started(version, before, token)
