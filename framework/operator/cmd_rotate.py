"""`smrotate rotate SECRET_ID`: RotateSecret, then (with --wait) follow it (rotate.py, watch.py);
`smrotate rotate --all [--filter ...]`: RotateSecret for many secrets in waves (waves.py)."""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from datetime import timedelta
from typing import Any

from smrotate.operator.command import (
    Clock,
    Subcommands,
    machine,
    non_negative,
    open_store,
    positive,
    secret_id,
    stuck_after_option,
    subcommand,
)
from smrotate.operator.exit_codes import CliError, ExitCode
from smrotate.operator.output import emit, emit_json, note

NAME = "rotate"
_INTERVAL = re.compile(r"(\d+(?:\.\d+)?)([dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}
# Options of one secret's rotation that --all does not take (it runs each secret's own
# configuration), as (attribute, option, the value that means "not given").
_SINGLE_ONLY = (
    ("lambda_arn", "--lambda-arn", None),
    ("schedule", "--schedule", None),
    ("days", "--days", None),
    ("duration", "--duration", None),
    ("immediately", "--no-immediately", True),
    ("timeout", "--timeout", None),
    ("wait", "--wait", False),
    ("stall", "--stall", None),
)
# Options of the waves, which one secret's rotation does not take.
_MANY_ONLY = (
    ("all", "--all"),
    ("filter", "--filter"),
    ("dry_run", "--dry-run"),
    ("canary", "--canary"),
    ("max_concurrent", "--max-concurrent"),
    ("rate", "--rate"),
    ("max_failures", "--max-failures"),
    ("min_interval", "--min-interval"),
)


def min_interval(text: str) -> timedelta:
    """`1d`, `12h`, `90m` or `0` (no limit) as a timedelta."""
    if text.strip() == "0":
        return timedelta(0)
    match = _INTERVAL.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"--min-interval is a length like 1d, 12h or 90m (0 for none), not {text!r}"
        )
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


def register(commands: Subcommands[argparse.ArgumentParser]) -> None:
    """The subcommand and its arguments."""
    parser = subcommand(
        commands,
        NAME,
        "start a rotation with RotateSecret and print the new version id; with --all, rotate "
        "every matching secret in waves",
    )
    parser.add_argument("secret", type=secret_id, metavar="SECRET_ID", nargs="?")
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
        help="do not rotate now; Secrets Manager only tests the function (testSecret) and the "
        "first rotation happens in the next window",
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
        help="--wait: stalled after N s without visible progress (default 300)",
    )
    parser.add_argument(
        "--interval",
        type=positive(float, "--interval"),
        default=2.0,
        help="seconds between DescribeSecret calls on one rotation (default 2)",
    )
    many = parser.add_argument_group("many secrets (waves; docs/waves.md)")
    many.add_argument(
        "--all",
        action="store_true",
        help="rotate every secret ListSecrets returns (with --filter: every matching one)",
    )
    many.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="KEY=VALUE[,VALUE]",
        help="ListSecrets filter as for `fleet` (name, description, tag-key, tag-value, "
        "primary-region, owning-service, all); repeatable",
    )
    many.add_argument(
        "--canary",
        type=non_negative("--canary"),
        help="rotate N secrets first and go on only if all of them rotate (default 1)",
    )
    many.add_argument(
        "--max-concurrent",
        type=positive(int, "--max-concurrent"),
        help="rotations running at once (default 10)",
    )
    many.add_argument(
        "--rate",
        type=positive(float, "--rate"),
        help="requests per second, all of this command's calls together (default 10)",
    )
    many.add_argument(
        "--max-failures",
        type=non_negative("--max-failures"),
        help="stop starting rotations once more than N have failed (default 0)",
    )
    many.add_argument(
        "--min-interval",
        type=min_interval,
        metavar="LENGTH",
        help="skip secrets rotated less than this ago: 1d, 12h, 90m, 0 (default 1d)",
    )
    stuck_after_option(parser)
    many.add_argument(
        "--dry-run", action="store_true", help="list what would start and what is skipped"
    )


def run(args: argparse.Namespace, now: Clock) -> int:
    """RotateSecret, then (with --wait) follow it; or, with --all, the waves."""
    if args.secret is None:
        return _run_waves(args, now)
    for attribute, option in _MANY_ONLY:
        value = getattr(args, attribute)
        if value is not None and value is not False and value != []:
            raise CliError(
                f"{option} is for many secrets: give it without SECRET_ID", ExitCode.USAGE
            )
    return _run_one(args)


def _run_one(args: argparse.Namespace) -> int:
    from smrotate.operator.rotate import RotationSettings, not_immediately, start
    from smrotate.operator.watch import Outcome, log_group, watch

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
    function = settings.lambda_arn or started.before.rotation_lambda_arn
    record: dict[str, Any] = {
        "name": started.before.name,
        "arn": started.before.arn,
        "version_id": started.token,
        "previous_current": started.before.current,
        "immediately": settings.immediately,
        "rotation_function": function,
        "log_group": log_group(function),
    }
    if not args.wait:
        if machine(args):
            emit_json(record)
        else:
            emit(started.token)
            if settings.immediately:
                note(
                    f"rotation of secret {started.before.name} started: version "
                    f"{started.token}; follow it with: smrotate status {shlex.quote(args.secret)}"
                )
            else:
                note(not_immediately(started.before.name, started.sent))
        return ExitCode.OK
    note(f"rotation of secret {started.before.name} started: version {started.token}")
    if log_group(function):
        note(f"the rotation function's logs: CloudWatch log group {log_group(function)}")
    result = watch(
        store,
        args.secret,
        started.token,
        timeout=args.timeout or 900.0,
        stall=args.stall or 300.0,
        interval=args.interval,
        report=note,
        function_arn=function,
    )
    record |= {
        "outcome": result.outcome.value,
        "detail": result.detail,
        "elapsed_seconds": round(result.elapsed, 1),
    }
    if machine(args):
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


def _run_waves(args: argparse.Namespace, now: Clock) -> int:
    from smrotate.operator import watch
    from smrotate.operator.fleet import parse_filter, survey
    from smrotate.operator.progress import Progress
    from smrotate.operator.waves import (
        FAILURES,
        Result,
        TokenBucket,
        Waves,
        WaveSettings,
        plan,
        summary,
        summary_line,
        tally,
        waves_table,
    )

    if not args.all and not args.dry_run:
        raise CliError(
            "give SECRET_ID, or --all to rotate every secret that ListSecrets returns (with "
            "--filter: every matching one); --dry-run lists them first",
            ExitCode.USAGE,
        )
    for attribute, option, unset in _SINGLE_ONLY:
        if getattr(args, attribute) != unset:
            raise CliError(
                f"{option} is for one secret; --all runs each secret's own rotation function "
                "and schedule, and always waits",
                ExitCode.USAGE,
            )
    filters = [parse_filter(text) for text in args.filter]
    given = {
        name: getattr(args, name)
        for name in ("canary", "max_concurrent", "rate", "max_failures", "min_interval")
        if getattr(args, name) is not None
    }
    settings = WaveSettings(**given, stuck_after=args.stuck_after, interval=args.interval)
    clock = watch.Clock()
    store = open_store(args)
    bucket = TokenBucket(settings.rate, clock)
    bucket.attach(store)
    moment = now()
    began = clock.now()
    entries = survey(
        store, moment, filters=filters, include_planned_deletion=True, stuck_after=args.stuck_after
    )
    items = plan(entries, moment, settings.min_interval, settings.canary)
    to_start = sum(1 for i in items if i.result is Result.WOULD_START)
    note(
        f"{len(items)} secret(s) matched: {to_start} to rotate, {len(items) - to_start} skipped"
        + (" (dry run: nothing is started)" if args.dry_run else "")
    )
    stopped = None
    if not args.dry_run and to_start:
        progress = Progress(to_start, stream=sys.stderr, tty=sys.stderr.isatty(), now=clock.now)
        waves = Waves(store, items, settings, clock, progress)
        waves.run()
        stopped = waves.stopped
    counts = summary(tally(items))
    record = {
        "dry_run": bool(args.dry_run),
        "stopped": stopped,
        "counts": counts,
        "api_calls": dict(sorted(bucket.calls.items())),
        "elapsed_seconds": round(clock.now() - began, 1),
        "secrets": [i.record() for i in items],
    }
    if machine(args):
        emit_json(record)
    else:
        if items:
            emit(waves_table(items))
        line = summary_line(tally(items), len(items))
        note(line + (f"; stopped: {stopped}" if stopped else ""))
    if stopped == "interrupted":
        return ExitCode.INTERRUPTED
    if any(i.result in FAILURES for i in items):
        return ExitCode.ROTATION_FAILED
    return ExitCode.OK
