"""`smrotate template ENGINE DIR`: write a ready-to-build SAM project for one engine (see
smrotate.operator.sam_project); then `cd DIR && sam build --template templates/ENGINE.yaml`."""

from __future__ import annotations

import argparse
from pathlib import Path

from smrotate.operator.command import Clock, Subcommands
from smrotate.operator.sam_project import ENGINES, write_project

NAME = "template"


def register(commands: Subcommands[argparse.ArgumentParser]) -> None:
    """The subcommand and its two arguments."""
    parser = commands.add_parser(
        NAME, help="write a SAM project for an engine, ready for `sam build`"
    )
    parser.add_argument("engine", choices=list(ENGINES), help="the rotator's engine")
    parser.add_argument("folder", type=Path, help="a new or empty folder for the project")


def run(args: argparse.Namespace, now: Clock) -> int:
    """Write the project; print what to run next."""
    from smrotate.operator.output import note

    written = write_project(args.engine, args.folder)
    note(f"wrote {len(written)} files into {args.folder}")
    print(f"cd {args.folder} && sam build --template templates/{ENGINES[args.engine].template}")
    return 0
