"""`smrotate rotate SECRET_ID`: RotateSecret, then (with --wait) follow it (rotate.py, watch.py)."""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from smrotate.operator.command import (
    Clock,
    Subcommands,
    open_store,
    positive,
    secret_id,
    subcommand,
)
from smrotate.operator.exit_codes import CliError, ExitCode
from smrotate.operator.output import emit, emit_json, note

NAME = "rotate"


def register(commands: Subcommands[argparse.ArgumentParser]) -> None:
    """The subcommand and its arguments."""
    parser = subcommand(
        commands, NAME, "start a rotation with RotateSecret and print the new version id"
    )
    parser.add_argument("secret", type=secret_id, metavar="SECRET_ID")
    parser.add_argument(
        "--lambda-arn",
        help="rotation function; without it, AWS uses the function already configured",
    )
    schedule = parser.add_mutually_exclusive_group()
    schedule.add_argument("--schedule", help="rate(N days|hours) or cron(...) expression")
    schedule.add_argument("--days", type=int, help="rotate every N days (1 to 1000)")
    parser.add_argument("--duration", help="rotation window in hours, e.g. 3h")
    parser.add_argument(
        "--no-immediately",
        dest="immediately",
        action="store_false",
        help="do not rotate now; the first rotation happens in the next window",
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="follow the rotation until the new version is AWSCURRENT, fails, stalls or times out",
    )
    parser.add_argument(
        "--timeout", type=positive(float, "--timeout"), help="--wait: give up after N s (900)"
    )
    parser.add_argument(
        "--stall",
        type=positive(float, "--stall"),
        default=300.0,
        help="--wait: stalled after N s without visible progress (default 300)",
    )
    parser.add_argument(
        "--interval",
        type=positive(float, "--interval"),
        default=2.0,
        help="--wait: seconds between DescribeSecret calls (default 2)",
    )


def run(args: argparse.Namespace, now: Clock) -> int:
    """RotateSecret, then (with --wait) follow it."""
    from smrotate.operator.rotate import RotationSettings, start
    from smrotate.operator.watch import Outcome, watch

    if not args.wait and args.timeout is not None:
        raise CliError("--timeout applies only with --wait", ExitCode.USAGE)
    if args.wait and not args.immediately:
        raise CliError(
            "--wait with --no-immediately has nothing to wait for: the first rotation happens "
            "in the next rotation window",
            ExitCode.USAGE,
        )
    settings = RotationSettings(
        args.lambda_arn, args.days, args.schedule, args.duration, args.immediately
    ).check()
    store = open_store(args)
    started = start(store, args.secret, settings)
    record: dict[str, Any] = {
        "name": started.before.name,
        "arn": started.before.arn,
        "version_id": started.token,
        "previous_current": started.before.current,
    }
    if not args.wait:
        if args.output == "json":
            emit_json(record)
        else:
            emit(started.token)
            note(
                f"rotation of secret {started.before.name} started: version {started.token}; "
                f"follow it with: smrotate status {shlex.quote(args.secret)}"
            )
        return ExitCode.OK
    note(f"rotation of secret {started.before.name} started: version {started.token}")
    result = watch(
        store,
        args.secret,
        started.token,
        timeout=args.timeout or 900.0,
        stall=args.stall,
        interval=args.interval,
        report=note,
    )
    record |= {
        "outcome": result.outcome.value,
        "detail": result.detail,
        "elapsed_seconds": round(result.elapsed, 1),
    }
    if args.output == "json":
        emit_json(record)
    else:
        emit(started.token)
        note(f"{result.outcome.value}: {result.detail}")
        if result.outcome is not Outcome.ROTATED:
            note(f"see: smrotate status {shlex.quote(args.secret)}")
    return {
        Outcome.ROTATED: ExitCode.OK,
        Outcome.FAILED: ExitCode.ROTATION_FAILED,
        Outcome.STALLED: ExitCode.STALLED,
        Outcome.TIMED_OUT: ExitCode.TIMED_OUT,
    }[result.outcome]
