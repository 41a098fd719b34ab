"""`smrotate fleet`: every secret (ListSecrets) with its rotation health (fleet.py)."""

from __future__ import annotations

import argparse

from smrotate.operator.command import (
    Clock,
    Subcommands,
    machine,
    open_store,
    regional_stores,
    stuck_after_option,
    subcommand,
)
from smrotate.operator.exit_codes import CliError, ExitCode
from smrotate.operator.output import emit, emit_json, note

NAME = "fleet"


def register(commands: Subcommands[argparse.ArgumentParser]) -> None:
    """The subcommand and its arguments."""
    parser = subcommand(commands, NAME, "every secret (ListSecrets) with its rotation health")
    parser.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="KEY=VALUE[,VALUE]",
        help="ListSecrets filter; KEY is name, description, tag-key, tag-value, primary-region, "
        "owning-service or all; repeatable",
    )
    parser.add_argument(
        "--include-planned-deletion",
        action="store_true",
        help="also list secrets scheduled for deletion",
    )
    parser.add_argument(
        "--health",
        help="show only these healths, comma-separated: stuck, in-progress, disabled, overdue, "
        "never-rotated, healthy",
    )
    parser.add_argument(
        "--replicas",
        action="store_true",
        help="also show each secret's other regions and whether each holds the same AWSCURRENT "
        "(one DescribeSecret per secret and per other region)",
    )
    stuck_after_option(parser)


def run(args: argparse.Namespace, now: Clock) -> int:
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
        names = {h.value: h for h in Health}
        healths = set()
        for item in args.health.split(","):
            name = item.strip()
            if name not in names:
                raise CliError(
                    f"--health {name!r} is not one of {', '.join(names)}", ExitCode.USAGE
                )
            healths.add(names[name])
    store = open_store(args)
    moment = now()
    entries = survey(
        store,
        moment,
        filters=filters,
        include_planned_deletion=args.include_planned_deletion,
        stuck_after=args.stuck_after,
        store_in=regional_stores(args) if args.replicas else None,
    )
    shown = select(entries, healths)
    if machine(args):
        emit_json([fleet_record(e) for e in shown])
    else:
        if shown:
            emit(fleet_table(shown, moment))
        note(summary(counts(entries)))
    return ExitCode.ATTENTION if set(counts(entries)) & NEEDS_ATTENTION else ExitCode.OK
