"""`smrotate sandbox [--rotator postgresql|redis] [--port N] [--ready-file PATH]` (sandbox.py).

moto server with rotation functions that run the rotator on this machine, a private database
with an application user and its secret (on PostgreSQL, also the secrets docs/cli.md works on,
in their documented states), and the shell lines that point the CLI at them; it stays up until
Ctrl-C. Imported only when it runs; it needs the `demo` extra (moto server).
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from smrotate.operator.command import Clock, Subcommands, positive
from smrotate.operator.exit_codes import CliError, ExitCode

NAME = "sandbox"
MODULE = "smrotate.operator.sandbox"
ROTATORS = ("postgresql", "redis")  # smrotate.operator.sandbox.TARGETS; the first is the default


def register(commands: Subcommands[argparse.ArgumentParser]) -> None:
    """The subcommand and its arguments (no connection options: it is the endpoint)."""
    help_text = "moto server, rotation functions and a private database to try the CLI on"
    parser = commands.add_parser(NAME, help=help_text, description=help_text)
    parser.add_argument(
        "--rotator",
        choices=ROTATORS,
        default=ROTATORS[0],
        help=f"the rotator the functions run, and its database (default {ROTATORS[0]})",
    )
    parser.add_argument(
        "--port", type=positive(int, "--port"), help="moto server's port (default a free one)"
    )
    parser.add_argument(
        "--ready-file",
        type=Path,
        metavar="PATH",
        help="write the environment lines to PATH once ready (removed when the sandbox stops)",
    )


def run(args: argparse.Namespace, now: Clock) -> int:
    """The sandbox, until SIGINT or SIGTERM: 0 then."""
    try:
        module = importlib.import_module(MODULE)
    except ModuleNotFoundError as exc:
        raise CliError(
            f"smrotate sandbox needs a module that is not installed ({exc.name}); install the "
            "demo extra: pip install 'smrotate[demo]'",
            ExitCode.ERROR,
        ) from None
    from smrotate.operator.demo import DemoSetupError

    try:
        return int(module.serve(args.rotator, args.port, args.ready_file))
    except DemoSetupError as exc:
        raise CliError(
            f"smrotate sandbox --rotator {args.rotator}: {exc}", ExitCode.ERROR
        ) from None
