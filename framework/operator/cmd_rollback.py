"""`smrotate rollback SECRET_ID --rotator NAME`: AWSPREVIOUS current again, through the rotator
(rollback.py), with an audit line on standard error."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping

from smrotate.operator.command import (
    Clock,
    Subcommands,
    machine,
    open_store,
    quiet_logs,
    secret_id,
    subcommand,
)
from smrotate.operator.exit_codes import ExitCode
from smrotate.operator.loading import ROTATOR_CHOICES
from smrotate.operator.output import emit, emit_json, note

NAME = "rollback"
STS_TIMEOUT = 3.0  # seconds, connect and read: the audit line must not hold up the command


def register(commands: Subcommands[argparse.ArgumentParser]) -> None:
    """The subcommand and its arguments."""
    parser = subcommand(
        commands,
        NAME,
        "make AWSPREVIOUS current again, setting its password back through the rotator",
    )
    parser.add_argument("secret", type=secret_id, metavar="SECRET_ID")
    parser.add_argument("--rotator", required=True, help=ROTATOR_CHOICES)
    parser.add_argument(
        "--strategy", help="ROTATION_STRATEGY the secret is rotated with, e.g. alternating-users"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="make the checks (logins only); change nothing"
    )


def run(args: argparse.Namespace, now: Clock) -> int:
    """The rollback; 7 when a check refused it (nothing changed), 10 when a step failed."""
    from smrotate.operator.loading import build_rotator
    from smrotate.operator.rollback import (
        Outcome,
        audit_line,
        report_lines,
        report_record,
        rollback,
    )

    store = open_store(args)
    quiet_logs(args)
    rotator = build_rotator(args.rotator, store, os.environ, args.strategy)
    who = caller(args.profile, args.region, args.endpoint_url, os.environ)
    report = rollback(
        store,
        rotator,
        args.secret,
        rotator_name=args.rotator,
        strategy=args.strategy,
        dry_run=args.dry_run,
        started=lambda begun: note(audit_line(begun, who, starting=True)),
    )
    note(audit_line(report, who))
    if machine(args):
        emit_json(report_record(report, who))
    else:
        for line in report_lines(report):
            emit(line)
    if report.outcome is Outcome.REFUSED:
        return ExitCode.REFUSED
    return ExitCode.ROTATION_FAILED if report.outcome is Outcome.FAILED else ExitCode.OK


def caller(
    profile: str | None, region: str | None, endpoint_url: str | None, env: Mapping[str, str]
) -> str:
    """Who runs the command, for the audit line: STS GetCallerIdentity's ARN for the CLI's
    profile (one attempt, short timeouts), with the profile and region; only those when STS
    is not asked (--endpoint-url names a local endpoint and no STS endpoint is set) or fails."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(profile_name=profile, region_name=region)
    where = (
        f"profile {profile or env.get('AWS_PROFILE') or 'default'}, region {session.region_name}"
    )
    if endpoint_url and not (env.get("AWS_ENDPOINT_URL_STS") or env.get("AWS_ENDPOINT_URL")):
        return f"unknown caller ({where}; STS not asked: --endpoint-url is not AWS)"
    config = Config(
        connect_timeout=STS_TIMEOUT,
        read_timeout=STS_TIMEOUT,
        retries={"mode": "standard", "total_max_attempts": 1},
    )
    try:
        arn = session.client("sts", config=config).get_caller_identity()["Arn"]
    except Exception as exc:  # the audit names the failure, the command goes on
        return f"unknown caller ({where}; STS GetCallerIdentity failed: {type(exc).__name__})"
    return f"{arn} ({where})"
