"""`smrotate`: start, follow, cancel and repair rotations, and run them on this machine.

This module only wires the commands together: it builds the parser from the command modules
(`cmd_rotate`, `cmd_cancel`, `cmd_status`, `cmd_run`, `cmd_demo`, `cmd_fleet`,
`cmd_template`; their contract is in `smrotate.operator.command`), dispatches to the one
named, and maps what ends it to an exit status. Each command owns its arguments and imports
its work only when it runs, so that
`smrotate status` never pays for a database driver. Results go to standard output (a table, or
JSON with --output json); progress, logs and errors go to standard error. No secret value is
ever printed: everything passes through redaction.scrub. Exit statuses are
`smrotate.operator.exit_codes.ExitCode`, each explained in its STATUSES table (the epilog of
--help and docs/cli.md's table come from it).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from smrotate import __version__
from smrotate.errors import (
    ConfigurationError,
    RotationInProgressError,
    RotationStateError,
    SmrotateError,
    StoreError,
)
from smrotate.operator import (
    cmd_cancel,
    cmd_completion,
    cmd_demo,
    cmd_doctor,
    cmd_fleet,
    cmd_rollback,
    cmd_rotate,
    cmd_run,
    cmd_sandbox,
    cmd_status,
    cmd_template,
    output,
)
from smrotate.operator.command import Command, connection_options, debug_logs, restore_logs
from smrotate.operator.exit_codes import CliError, ExitCode, from_store_error, statuses_help
from smrotate.operator.output import note

# In the order `smrotate --help` lists them.
COMMANDS: dict[str, Command] = {
    module.NAME: module
    for module in (
        cmd_rotate,
        cmd_cancel,
        cmd_rollback,
        cmd_status,
        cmd_run,
        cmd_demo,
        cmd_sandbox,
        cmd_doctor,
        cmd_fleet,
        cmd_template,
        cmd_completion,
    )
}


def now() -> datetime:
    """The current time in UTC: the clock the commands are given (tests move it)."""
    return datetime.now(UTC)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: the common options, then each command's subcommand."""
    parser = argparse.ArgumentParser(
        prog="smrotate",
        description="Start, follow, cancel and repair AWS Secrets Manager rotations, and run "
        "them on this machine. No secret value is ever printed.",
        epilog=statuses_help(),
    )
    parser.add_argument("--version", action="version", version=f"smrotate {__version__}")
    connection_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS.values():
        command.register(commands)
    return parser


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
        restore_logs()


def _main(argv: Sequence[str] | None) -> int:
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        if args_list[:1] == [cmd_demo.NAME]:  # all of it is the demo's, --help included
            return cmd_demo.run_demo(args_list[1:])
        parser = build_parser()
        if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions (cmd_completion)
            cmd_completion.complete(parser)
        args = parser.parse_args(args_list)
        output.configure(args.output, args.query)
        if args.debug:
            debug_logs()
        return int(COMMANDS[args.command].run(args, now))
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
