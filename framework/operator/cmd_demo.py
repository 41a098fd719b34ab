"""`smrotate demo [ARGS...]`: the demo (demo.py), imported only when it runs.

Its arguments are the demo's own, passed on untouched: `smrotate demo --help` is the demo's
help. The demo needs the `demo` extra; without it, or without demo.py, one clear error.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Sequence

from smrotate.operator.command import Clock, Subcommands
from smrotate.operator.exit_codes import CliError, ExitCode

NAME = "demo"
MODULE = "smrotate.operator.demo"


def register(commands: Subcommands[argparse.ArgumentParser]) -> None:
    """The subcommand: everything after it is the demo's."""
    commands.add_parser(
        NAME,
        help="a real rotation of a real database password, moto standing in for AWS",
        add_help=False,
    ).add_argument("demo_args", nargs=argparse.REMAINDER)


def run(args: argparse.Namespace, now: Clock) -> int:
    """The demo with the arguments given after `demo`."""
    return run_demo(args.demo_args)


def run_demo(demo_args: Sequence[str]) -> int:
    """smrotate.operator.demo.main(demo_args), imported only now."""
    try:
        module = importlib.import_module(MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != MODULE:
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
