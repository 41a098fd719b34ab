"""`smrotate run SECRET_ID --rotator NAME`: the four steps on this machine (local_run.py)."""

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
    version_id,
)
from smrotate.operator.exit_codes import ExitCode
from smrotate.operator.loading import ROTATOR_CHOICES
from smrotate.operator.output import emit, emit_json, note

NAME = "run"


def register(commands: Subcommands[argparse.ArgumentParser]) -> None:
    """The subcommand and its arguments."""
    parser = subcommand(
        commands, NAME, "run the four rotation steps on this machine through a rotator"
    )
    parser.add_argument("secret", type=secret_id, metavar="SECRET_ID")
    parser.add_argument("--rotator", required=True, help=ROTATOR_CHOICES)
    parser.add_argument("--strategy", help="ROTATION_STRATEGY for this run, e.g. single-user")
    parser.add_argument(
        "--resume",
        type=version_id,
        metavar="TOKEN",
        help="continue the rotation of this version id",
    )


def run(args: argparse.Namespace, now: Clock) -> int:
    """The four steps on this machine through the local driver; 10 when a step failed."""
    from smrotate.operator.loading import build_rotator
    from smrotate.operator.local_run import run_record, run_rotation, step_line, summary_lines

    store = open_store(args)
    quiet_logs(args)
    rotator = build_rotator(args.rotator, store, os.environ, args.strategy)
    table = not machine(args)
    if table:
        note(f"rotating secret {args.secret} with {args.rotator} on this machine")
    done = run_rotation(
        store,
        rotator,
        args.secret,
        resume=args.resume,
        report=(lambda entry: emit(step_line(entry))) if table else (lambda entry: None),
    )
    if table:
        for line in summary_lines(done, args.secret, args.rotator):
            (emit if done.result.ok else note)(line)
    else:
        emit_json(run_record(done))
    return ExitCode.OK if done.result.ok else ExitCode.ROTATION_FAILED
