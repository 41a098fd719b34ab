"""`smrotate cancel SECRET_ID [--cleanup]`: CancelRotateSecret and the safe cleanup (cleanup.py)."""

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
from smrotate.operator.exit_codes import CliError, ExitCode
from smrotate.operator.loading import ROTATOR_CHOICES
from smrotate.operator.output import emit, emit_json

NAME = "cancel"


def register(commands: Subcommands[argparse.ArgumentParser]) -> None:
    """The subcommand and its arguments."""
    parser = subcommand(
        commands,
        NAME,
        "CancelRotateSecret, and with --cleanup remove the unfinished AWSPENDING safely",
    )
    parser.add_argument("secret", type=secret_id, metavar="SECRET_ID")
    parser.add_argument(
        "--cleanup",
        action="store_true",
        help="then remove AWSPENDING from the unfinished version, or finish the rotation when "
        "only the pending credentials log in (needs --rotator to check)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="say what would change; change nothing"
    )
    parser.add_argument("--rotator", help=f"{ROTATOR_CHOICES}, to check logins")


def run(args: argparse.Namespace, now: Clock) -> int:
    """CancelRotateSecret, and the safe cleanup; 13 when cleanup refused."""
    from smrotate.operator.cleanup import cancel, report_lines, report_record

    if args.rotator and not args.cleanup:
        raise CliError("--rotator is used only with --cleanup", ExitCode.USAGE)
    if args.dry_run and not args.cleanup:
        raise CliError("--dry-run applies to --cleanup; add --cleanup", ExitCode.USAGE)
    store = open_store(args)
    rotator = None
    if args.rotator:
        from smrotate.operator.loading import login_rotator

        quiet_logs(args)
        rotator = login_rotator(args.rotator, store, os.environ)
    report = cancel(store, args.secret, cleanup=args.cleanup, dry_run=args.dry_run, rotator=rotator)
    if machine(args):
        emit_json(report_record(report))
    else:
        for line in report_lines(report, args.secret):
            emit(line)
    return ExitCode.CLEANUP_REFUSED if report.refused else ExitCode.OK
