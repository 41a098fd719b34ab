"""`smrotate doctor SECRET_ID --rotator R`: read-only preflight and diagnosis (doctor.py)."""

from __future__ import annotations

import argparse
import os

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
from smrotate.operator.output import emit, emit_json

NAME = "doctor"


def register(commands: Subcommands[argparse.ArgumentParser]) -> None:
    """The subcommand and its arguments."""
    parser = subcommand(
        commands,
        NAME,
        "check, changing nothing, that a secret can rotate: its format, the admin secret, the "
        "target (reachable, TLS, login, admin rights), the function, the KMS key and the "
        "resource policy",
    )
    parser.add_argument("secret", type=secret_id, metavar="SECRET_ID")
    parser.add_argument("--rotator", required=True, help=f"{ROTATOR_CHOICES}")
    parser.add_argument(
        "--strategy",
        help="the ROTATION_STRATEGY to check (default: ROTATION_STRATEGY here, else single-user)",
    )
    parser.add_argument(
        "--lambda-arn",
        help="the rotation function to check (default: the secret's RotationLambdaARN)",
    )


def run(args: argparse.Namespace, now: Clock) -> int:
    """Every check; 0 when none failed, 14 otherwise."""
    from smrotate.operator.doctor import diagnose, report_lines, report_record
    from smrotate.operator.doctor_aws import open_clients

    store = open_store(args)
    quiet_logs(args)
    report = diagnose(
        store,
        open_clients(args, store.client),
        args.rotator,
        args.secret,
        strategy=args.strategy,
        lambda_arn=args.lambda_arn,
        env=os.environ,
    )
    if machine(args):
        emit_json(report_record(report))
    else:
        for line in report_lines(report):
            emit(line)
    return ExitCode.OK if report.ok else ExitCode.DOCTOR_FOUND_PROBLEMS
