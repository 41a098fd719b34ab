"""`smrotate doctor`: read-only checks that a secret can rotate, each a pass, fail or skip.

`diagnose` runs the target checks (`doctor_target`: the secret's format, the admin secret, the
target reachable, TLS, the login, the admin's rights) and the AWS checks (`doctor_aws`: the
rotation function, its invoke permission and strategy, the KMS key, the secret's resource
policy). A check that cannot apply (no admin strategy, plaintext by the secret's choice) or
that needs a failed one is skipped with the reason. Nothing is ever changed: no write to
Secrets Manager, Lambda, IAM, KMS or the target (the only session state set is the admin
guard's random application name or client name, as a rotation sets it). Every message names
what was found and what to do; none holds a secret value (the CLI scrubs them all the same).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from smrotate.errors import ConfigurationError
from smrotate.operator.exit_codes import CliError, ExitCode
from smrotate.operator.output import table

if TYPE_CHECKING:
    from smrotate.operator.doctor_aws import AwsClients
    from smrotate.store import SecretStore

Status = Literal["pass", "fail", "skip"]


@dataclass(frozen=True)
class Check:
    """One check's outcome: `found` says what was seen, `fix` what to do (for a failure) or
    why it does not apply (for a skip)."""

    name: str
    status: Status
    found: str
    fix: str = ""


def passed(name: str, found: str) -> Check:
    """A check that passed, with what it saw."""
    return Check(name, "pass", found)


def failed(name: str, found: str, fix: str) -> Check:
    """A check that failed: the problem, and the fix."""
    return Check(name, "fail", found, fix)


def skipped(name: str, why: str) -> Check:
    """A check that does not apply here, or needs one that failed."""
    return Check(name, "skip", why)


@dataclass
class Report:
    """Every check of one secret, in the order they ran."""

    secret: str
    rotator: str
    strategy: str | None
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no check failed (skips of checks that do not apply are fine)."""
        return all(check.status != "fail" for check in self.checks)

    @property
    def problems(self) -> list[Check]:
        """The failed checks."""
        return [check for check in self.checks if check.status == "fail"]


def diagnose(
    store: SecretStore,
    clients: AwsClients,
    rotator_name: str,
    secret_id: str,
    *,
    strategy: str | None,
    lambda_arn: str | None,
    env: Mapping[str, str],
) -> Report:
    """Every check of `secret_id` as rotator `rotator_name` with `strategy` (else the
    environment's ROTATION_STRATEGY) would rotate it; read-only. Errors of DescribeSecret
    itself propagate (the CLI maps them to their exit status)."""
    from smrotate.operator.doctor_aws import aws_checks
    from smrotate.operator.doctor_target import TargetDoctor
    from smrotate.operator.loading import build_rotator

    rotator = build_rotator(rotator_name, store, env, strategy)
    description = store.describe(secret_id)
    doctor = TargetDoctor(rotator, description)
    try:
        strategy_name = doctor.strategy_name
    except ConfigurationError as exc:
        raise CliError(f"--rotator {rotator_name}: {exc}", ExitCode.USAGE) from None
    report = Report(description.name, rotator_name, strategy_name)
    report.checks += doctor.checks()
    report.checks += aws_checks(clients, description, strategy_name, lambda_arn)
    return report


HEADERS = ("check", "result", "found", "fix")


def report_lines(report: Report) -> list[str]:
    """The table (one line per check), then a summary line."""
    rows = [
        [check.name, check.status.upper() if check.status == "fail" else check.status,
         check.found, check.fix]
        for check in report.checks
    ]  # fmt: skip
    failures = len(report.problems)
    summary = (
        f"{report.secret}: every check passed ({report.strategy or 'no strategy'})"
        if report.ok
        else f"{report.secret}: {failures} check{'s' * (failures != 1)} failed; fix "
        f"{'them' if failures != 1 else 'it'}, then run doctor again"
    )
    return [*table(rows, HEADERS).splitlines(), "", summary]


def report_record(report: Report) -> dict[str, Any]:
    """The JSON record: the secret, the rotator, the strategy, ok, and every check."""
    return {
        "secret": report.secret,
        "rotator": report.rotator,
        "strategy": report.strategy,
        "ok": report.ok,
        "checks": [
            {"check": c.name, "result": c.status, "found": c.found, "fix": c.fix or None}
            for c in report.checks
        ],
    }
