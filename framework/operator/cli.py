"""`smrotate`: start, follow, cancel and repair rotations, and run them on this machine.

This module parses arguments and dispatches; the work is in `smrotate.operator`, imported by
the command that needs it so that `smrotate status` never pays for a database driver. Results go
to standard output (a table, or JSON with --output json); progress, logs and errors go to
standard error. No secret value is ever printed: everything passes through redaction.scrub.
Exit statuses are `smrotate.operator.exit_codes.ExitCode` (documented in docs/cli.md).
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import shlex
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from smrotate import __version__
from smrotate.errors import (
    ConfigurationError,
    RotationInProgressError,
    RotationStateError,
    SmrotateError,
    StoreError,
)
from smrotate.operator.exit_codes import CliError, ExitCode, from_store_error
from smrotate.operator.output import emit, emit_json, note

if TYPE_CHECKING:
    from smrotate.store import SecretStore

_CONTROL = re.compile(r"[\x00-\x20\x7f]")
MAX_SECRET_ID = 2048


def now() -> datetime:
    """The current time in UTC (tests move it)."""
    return datetime.now(UTC)


# ------------------------------------------------------------------------- arguments


def secret_id(text: str) -> str:
    """A secret name or ARN: 1 to 2048 characters without spaces or control characters."""
    if not text or len(text) > MAX_SECRET_ID or _CONTROL.search(text):
        raise argparse.ArgumentTypeError(
            f"a secret id is a name or ARN of 1 to {MAX_SECRET_ID} characters without spaces "
            "or control characters"
        )
    return text


def version_id(text: str) -> str:
    """A version id (a ClientRequestToken): 32 to 64 printable characters without spaces."""
    if not re.fullmatch(r"[\x21-\x7e]{32,64}", text):
        raise argparse.ArgumentTypeError(
            "a version id is 32 to 64 printable characters without spaces (as status prints it)"
        )
    return text


def positive(kind: type[int] | type[float], what: str) -> Callable[[str], Any]:
    """An argparse type: a number greater than zero."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number, not {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{what} must be greater than 0")
        return value

    return parse


def _connection_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default: Any = argparse.SUPPRESS if suppress else None
    group = parser.add_argument_group("AWS connection (as the aws CLI; environment variables work)")
    group.add_argument("--region", default=default, help="AWS region (else AWS_REGION, ...)")
    group.add_argument("--profile", default=default, help="profile from ~/.aws (else AWS_PROFILE)")
    group.add_argument(
        "--endpoint-url",
        default=default,
        help="Secrets Manager endpoint, e.g. a moto server (else AWS_ENDPOINT_URL_SECRETS_MANAGER)",
    )
    group.add_argument(
        "--output",
        choices=("table", "json"),
        default=argparse.SUPPRESS if suppress else "table",
        help="result format on standard output (default table)",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="show the rotator's log lines on standard error",
    )


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = argparse.ArgumentParser(
        prog="smrotate",
        description="Start, follow, cancel and repair AWS Secrets Manager rotations, and run "
        "them on this machine. No secret value is ever printed.",
        epilog="Exit statuses: 0 ok, 1 error, 2 bad input, 3 secret not found, 4 credentials or "
        "region, 5 access denied, 6 throttled, 7 refused by the secret's state, 8 service "
        "unreachable or failing, 9 a secret needs attention, 10 rotation failed, 11 stalled, "
        "12 timed out, 13 cleanup refused, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"smrotate {__version__}")
    _connection_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _connection_options(sub, suppress=True)
        return sub

    rotate = command("rotate", "start a rotation with RotateSecret and print the new version id")
    rotate.add_argument("secret", type=secret_id, metavar="SECRET_ID")
    rotate.add_argument(
        "--lambda-arn",
        help="rotation function; without it, AWS uses the function already configured",
    )
    schedule = rotate.add_mutually_exclusive_group()
    schedule.add_argument("--schedule", help="rate(N days|hours) or cron(...) expression")
    schedule.add_argument("--days", type=int, help="rotate every N days (1 to 1000)")
    rotate.add_argument("--duration", help="rotation window in hours, e.g. 3h")
    rotate.add_argument(
        "--no-immediately",
        dest="immediately",
        action="store_false",
        help="do not rotate now; the first rotation happens in the next window",
    )
    rotate.add_argument(
        "--wait",
        action="store_true",
        help="follow the rotation until the new version is AWSCURRENT, fails, stalls or times out",
    )
    rotate.add_argument(
        "--timeout", type=positive(float, "--timeout"), help="--wait: give up after N s (900)"
    )
    rotate.add_argument(
        "--stall",
        type=positive(float, "--stall"),
        default=300.0,
        help="--wait: stalled after N s without visible progress (default 300)",
    )
    rotate.add_argument(
        "--interval",
        type=positive(float, "--interval"),
        default=2.0,
        help="--wait: seconds between DescribeSecret calls (default 2)",
    )

    cancel = command(
        "cancel", "CancelRotateSecret, and with --cleanup remove the unfinished AWSPENDING safely"
    )
    cancel.add_argument("secret", type=secret_id, metavar="SECRET_ID")
    cancel.add_argument(
        "--cleanup",
        action="store_true",
        help="then remove AWSPENDING from the unfinished version, or finish the rotation when "
        "only the pending credentials log in (needs --rotator to check)",
    )
    cancel.add_argument(
        "--dry-run", action="store_true", help="say what would change; change nothing"
    )
    cancel.add_argument("--rotator", help="postgresql, mysql or MODULE:CLASS, to check logins")

    status = command("status", "rotation settings, versions and a diagnosis of each secret")
    status.add_argument("secrets", type=secret_id, nargs="+", metavar="SECRET_ID")
    status.add_argument(
        "--stuck-after",
        type=positive(float, "--stuck-after"),
        default=15.0,
        help="minutes after which an unfinished rotation counts as stuck (default 15)",
    )

    run = command("run", "run the four rotation steps on this machine through a rotator")
    run.add_argument("secret", type=secret_id, metavar="SECRET_ID")
    run.add_argument("--rotator", required=True, help="postgresql, mysql or MODULE:CLASS")
    run.add_argument("--strategy", help="ROTATION_STRATEGY for this run, e.g. single-user")
    run.add_argument(
        "--resume",
        type=version_id,
        metavar="TOKEN",
        help="continue the rotation of this version id",
    )

    commands.add_parser(
        "demo",
        help="a real rotation of a real database password, moto standing in for AWS",
        add_help=False,
    ).add_argument("demo_args", nargs=argparse.REMAINDER)

    fleet = command("fleet", "every secret (ListSecrets) with its rotation health")
    fleet.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="KEY=VALUE[,VALUE]",
        help="ListSecrets filter; KEY is name, description, tag-key, tag-value, primary-region, "
        "owning-service or all; repeatable",
    )
    fleet.add_argument(
        "--include-planned-deletion",
        action="store_true",
        help="also list secrets scheduled for deletion",
    )
    fleet.add_argument(
        "--health",
        help="show only these healths, comma-separated: stuck, in-progress, disabled, overdue, "
        "never-rotated, healthy",
    )
    fleet.add_argument(
        "--stuck-after",
        type=positive(float, "--stuck-after"),
        default=15.0,
        help="minutes after which an unfinished rotation counts as stuck (default 15)",
    )
    return parser


# -------------------------------------------------------------------------- commands


def _store(args: argparse.Namespace) -> SecretStore:
    from smrotate.operator.connection import Connection, open_store

    return open_store(Connection(args.region, args.profile, args.endpoint_url))


_RESTORE: list[Callable[[], None]] = []  # undone when main() returns (callers in-process)


def _quiet_logs(args: argparse.Namespace) -> None:
    """Rotator logs to standard error; INFO lines only with --verbose (until main returns)."""
    from smrotate import observability

    stream, level = observability.log_stream(), observability.logger.log_level
    _RESTORE.append(lambda: observability.set_log_stream(stream))
    _RESTORE.append(lambda: observability.logger.setLevel(level))
    observability.log_to_stderr()
    observability.logger.setLevel("INFO" if args.verbose else "WARNING")


def cmd_rotate(args: argparse.Namespace) -> int:
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
    store = _store(args)
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


def cmd_cancel(args: argparse.Namespace) -> int:
    """CancelRotateSecret, and the safe cleanup."""
    from smrotate.operator.cleanup import cancel, report_lines, report_record

    if args.rotator and not args.cleanup:
        raise CliError("--rotator is used only with --cleanup", ExitCode.USAGE)
    if args.dry_run and not args.cleanup:
        raise CliError("--dry-run applies to --cleanup; add --cleanup", ExitCode.USAGE)
    store = _store(args)
    rotator = None
    if args.rotator:
        from smrotate.operator.loading import login_rotator

        _quiet_logs(args)
        rotator = login_rotator(args.rotator, store, os.environ)
    report = cancel(store, args.secret, cleanup=args.cleanup, dry_run=args.dry_run, rotator=rotator)
    if args.output == "json":
        emit_json(report_record(report))
    else:
        for line in report_lines(report, args.secret):
            emit(line)
    return ExitCode.CLEANUP_REFUSED if report.refused else ExitCode.OK


def cmd_status(args: argparse.Namespace) -> int:
    """Status and diagnosis of each secret; 9 when one needs attention."""
    from smrotate.operator.health import NEEDS_ATTENTION
    from smrotate.operator.status import secret_status, status_record, status_text

    store = _store(args)
    moment = now()
    stuck_after = timedelta(minutes=args.stuck_after)
    records, code = [], ExitCode.OK
    for index, ref in enumerate(args.secrets):
        try:
            status = secret_status(store, ref, moment, stuck_after)
        except StoreError as exc:
            error = from_store_error(exc)
            note(f"smrotate: error: {error}")
            code = code if code not in (ExitCode.OK, ExitCode.ATTENTION) else error.code
            continue
        if status.diagnosis.health in NEEDS_ATTENTION and code is ExitCode.OK:
            code = ExitCode.ATTENTION
        if args.output == "json":
            records.append(status_record(status))
        else:
            emit(("\n" if index else "") + status_text(status, moment))
    if args.output == "json":
        emit_json(records)
    return code


def cmd_fleet(args: argparse.Namespace) -> int:
    """Every secret's health; 9 when one needs attention."""
    from smrotate.operator.fleet import (
        counts,
        fleet_record,
        fleet_table,
        parse_filter,
        select,
        summary,
        survey,
    )
    from smrotate.operator.health import NEEDS_ATTENTION, Health

    filters = [parse_filter(text) for text in args.filter]
    healths = None
    if args.health:
        names = {h.value.replace(" ", "-"): h for h in Health}
        healths = set()
        for item in args.health.split(","):
            name = item.strip()
            if name not in names:
                raise CliError(
                    f"--health {name!r} is not one of {', '.join(names)}", ExitCode.USAGE
                )
            healths.add(names[name])
    store = _store(args)
    moment = now()
    entries = survey(
        store,
        moment,
        filters=filters,
        include_planned_deletion=args.include_planned_deletion,
        stuck_after=timedelta(minutes=args.stuck_after),
    )
    shown = select(entries, healths)
    if args.output == "json":
        emit_json([fleet_record(e) for e in shown])
    else:
        if shown:
            emit(fleet_table(shown, moment))
        note(summary(counts(entries)))
    return ExitCode.ATTENTION if set(counts(entries)) & NEEDS_ATTENTION else ExitCode.OK


def cmd_run(args: argparse.Namespace) -> int:
    """The four steps on this machine through the local driver."""
    from smrotate.operator.loading import build_rotator
    from smrotate.operator.local_run import run_record, run_rotation, step_line, summary_lines

    store = _store(args)
    _quiet_logs(args)
    rotator = build_rotator(args.rotator, store, os.environ, args.strategy)
    table = args.output != "json"
    if table:
        note(f"rotating secret {args.secret} with {args.rotator} on this machine")
    run = run_rotation(
        store,
        rotator,
        args.secret,
        resume=args.resume,
        report=(lambda entry: emit(step_line(entry))) if table else (lambda entry: None),
    )
    if table:
        for line in summary_lines(run, args.secret, args.rotator):
            (emit if run.result.ok else note)(line)
    else:
        emit_json(run_record(run))
    return ExitCode.OK if run.result.ok else ExitCode.ROTATION_FAILED


def cmd_demo(demo_args: Sequence[str]) -> int:
    """smrotate.operator.demo.main(demo_args), imported only now."""
    try:
        module = importlib.import_module("smrotate.operator.demo")
    except ModuleNotFoundError as exc:
        if exc.name != "smrotate.operator.demo":
            raise CliError(
                f"smrotate demo needs a module that is not installed ({exc.name}); install the "
                "demo extra: pip install 'smrotate[demo]'",
                ExitCode.ERROR,
            ) from None
        raise CliError(
            "smrotate demo is not available in this install (smrotate/operator/demo.py is "
            "missing); "
            "reinstall smrotate from a complete checkout",
            ExitCode.ERROR,
        ) from None
    demo_main: Callable[[list[str] | None], int] = module.main
    return int(demo_main(list(demo_args)))


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "rotate": cmd_rotate,
    "cancel": cmd_cancel,
    "status": cmd_status,
    "run": cmd_run,
    "fleet": cmd_fleet,
}


def _exit_for(exc: Exception) -> tuple[int, str]:
    """The exit status and the message for an exception that ends a command."""
    if isinstance(exc, CliError):
        return exc.code, f"smrotate: error: {exc}"
    if isinstance(exc, StoreError):
        error = from_store_error(exc)
        return error.code, f"smrotate: error: {error}"
    if isinstance(exc, (RotationInProgressError, RotationStateError)):
        return ExitCode.REFUSED, f"smrotate: error: {exc}"
    if isinstance(exc, ConfigurationError):
        return ExitCode.USAGE, f"smrotate: error: {exc}"
    if isinstance(exc, SmrotateError):
        return ExitCode.ERROR, f"smrotate: error: {exc}"
    # A bug: say what, never with a trace (a trace could hold values).
    return ExitCode.ERROR, f"smrotate: internal error: {type(exc).__name__}: {exc}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit status (see ExitCode). Log settings it changes are
    put back when it returns, so in-process callers (tests, scripts) keep theirs."""
    try:
        return _main(argv)
    finally:
        while _RESTORE:
            _RESTORE.pop()()


def _main(argv: Sequence[str] | None) -> int:
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        if args_list[:1] == ["demo"]:
            return cmd_demo(args_list[1:])
        args = build_parser().parse_args(args_list)
        if args.command == "demo":
            return cmd_demo(args.demo_args)
        return int(COMMANDS[args.command](args))
    except SystemExit as exc:  # argparse: --help (0) and usage errors (2)
        return exc.code if isinstance(exc.code, int) else ExitCode.USAGE
    except KeyboardInterrupt:
        note("smrotate: interrupted")
        return ExitCode.INTERRUPTED
    except Exception as exc:
        code, message = _exit_for(exc)
        note(message)
        return code


if __name__ == "__main__":
    sys.exit(main())
