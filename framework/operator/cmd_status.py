"""`smrotate status SECRET_ID...`: each secret's settings, versions and diagnosis (status.py)."""

from __future__ import annotations

import argparse
from typing import Any

from smrotate.errors import StoreError
from smrotate.operator.command import (
    Clock,
    Subcommands,
    machine,
    open_store,
    regional_stores,
    secret_id,
    stuck_after_option,
    subcommand,
)
from smrotate.operator.exit_codes import ExitCode, from_store_error
from smrotate.operator.output import emit, emit_json, note

NAME = "status"


def register(commands: Subcommands[argparse.ArgumentParser]) -> None:
    """The subcommand and its arguments."""
    parser = subcommand(
        commands, NAME, "rotation settings, versions and a diagnosis of each secret"
    )
    parser.add_argument("secrets", type=secret_id, nargs="+", metavar="SECRET_ID")
    stuck_after_option(parser)


def run(args: argparse.Namespace, now: Clock) -> int:
    """Status and diagnosis of each secret; 9 when one needs attention, an error's status when
    one fails (it outranks 9)."""
    from smrotate.operator.health import NEEDS_ATTENTION
    from smrotate.operator.status import secret_status, status_record, status_text

    store = open_store(args)
    store_in = regional_stores(args)
    moment = now()
    stuck_after = args.stuck_after
    records: list[dict[str, Any]] = []
    code = ExitCode.OK
    for index, ref in enumerate(args.secrets):
        try:
            status = secret_status(store, ref, moment, stuck_after, store_in)
        except StoreError as exc:
            error = from_store_error(exc)
            note(f"smrotate: error: {error}")
            code = code if code not in (ExitCode.OK, ExitCode.ATTENTION) else error.code
            continue
        if status.diagnosis.health in NEEDS_ATTENTION and code is ExitCode.OK:
            code = ExitCode.ATTENTION
        if machine(args):
            records.append(status_record(status))
        else:
            emit(("\n" if index else "") + status_text(status, moment))
    if machine(args):
        emit_json(records)
    return code
