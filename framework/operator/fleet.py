"""`smrotate fleet`: every secret (ListSecrets, paginated) with its rotation health.

ListSecrets returns up to 100 secrets per call with their rotation settings and labels, so the
fleet costs one call per 100 secrets and nothing per secret: 10 calls for 1,000 (bench/fleet.py
measures it). Without version dates, a pending version's age is bounded by LastChangedDate;
`smrotate status` gives its exact creation date. ListSecrets does not say which regions a
secret is replicated to: `--replicas` asks DescribeSecret for each secret, and once more for
each of its other regions (replicas.py).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from smrotate.operator.exit_codes import CliError, ExitCode
from smrotate.operator.health import Diagnosis, Health, diagnose
from smrotate.operator.output import iso, table, when
from smrotate.operator.replicas import ReplicaState, replica_record, replica_states
from smrotate.store import SecretDescription, SecretStore

FILTER_KEYS = (
    "all",
    "description",
    "name",
    "owning-service",
    "primary-region",
    "tag-key",
    "tag-value",
)
_FILTER_VALUE = re.compile(r"!?[A-Za-z0-9 :_@/+=.\-!]{0,512}")
_MAX_VALUES = 10


def parse_filter(text: str) -> dict[str, Any]:
    """`KEY=VALUE[,VALUE...]` as a ListSecrets filter; CliError (exit 2) naming the problem."""
    key, sep, values = text.partition("=")
    key = key.strip()
    if not sep or key not in FILTER_KEYS:
        raise CliError(
            f"--filter {text!r} is not KEY=VALUE[,VALUE...] with KEY one of "
            f"{', '.join(FILTER_KEYS)} (e.g. --filter name=prod/ --filter tag-key=team)",
            ExitCode.USAGE,
        )
    parts = [v.strip() for v in values.split(",") if v.strip()]
    if not parts or len(parts) > _MAX_VALUES:
        raise CliError(
            f"--filter {key}= needs 1 to {_MAX_VALUES} comma-separated values", ExitCode.USAGE
        )
    for value in parts:
        if not _FILTER_VALUE.fullmatch(value):
            raise CliError(
                f"--filter {key}= value {value!r} may hold only letters, digits, spaces and "
                ":_@/+=.-! (a leading ! negates it), at most 512 characters",
                ExitCode.USAGE,
            )
    return {"Key": key, "Values": parts}


@dataclass(frozen=True)
class FleetEntry:
    """One secret of the fleet and its diagnosis."""

    description: SecretDescription
    diagnosis: Diagnosis
    replicas: list[ReplicaState] | None = field(default=None)  # None: not asked (--replicas)


def survey(
    store: SecretStore,
    now: datetime,
    *,
    filters: Sequence[dict[str, Any]] = (),
    include_planned_deletion: bool = False,
    stuck_after: timedelta,
    store_in: Callable[[str], SecretStore] | None = None,
) -> list[FleetEntry]:
    """Every secret matching `filters`, diagnosed, in ListSecrets order; with `store_in` (a
    store per region), each one's other regions too."""
    entries = []
    for d in store.list_secrets(filters=filters, include_planned_deletion=include_planned_deletion):
        diagnosis = diagnose(d, now, pending_since=d.last_changed, stuck_after=stuck_after)
        replicas = None
        if store_in is not None:
            replicas = replica_states(store.describe(d.arn), store_in)
        entries.append(FleetEntry(d, diagnosis, replicas))
    return entries


def select(entries: Iterable[FleetEntry], healths: set[Health] | None) -> list[FleetEntry]:
    """The entries whose health is in `healths` (all when None)."""
    return [e for e in entries if healths is None or e.diagnosis.health in healths]


def counts(entries: Iterable[FleetEntry]) -> Counter[Health]:
    """How many secrets have each health."""
    return Counter(e.diagnosis.health for e in entries)


def summary(total: Counter[Health]) -> str:
    """`1000 secrets: 970 healthy, 20 never-rotated, ...` in the order of Health."""
    n = sum(total.values())
    parts = [f"{total[h]} {h.value}" for h in Health if total[h]]
    return f"{n} secret{'s' if n != 1 else ''}" + (": " + ", ".join(parts) if parts else "")


def fleet_record(entry: FleetEntry) -> dict[str, Any]:
    """One secret as JSON-ready data."""
    d, diagnosis = entry.description, entry.diagnosis
    return {
        "name": d.name,
        "arn": d.arn,
        "health": diagnosis.health.value,
        "detail": diagnosis.detail,
        "repair": diagnosis.repair,
        "repair_alternative": diagnosis.alternative,
        "rotation_enabled": d.rotation_enabled,
        "rotation_function": d.rotation_lambda_arn,
        "last_rotated": iso(d.last_rotated),
        "next_rotation": iso(d.next_rotation),
        "pending_version": diagnosis.pending,
        "deleted": iso(d.deleted),
        **(
            {}
            if entry.replicas is None
            else {"replicas": [replica_record(r) for r in entry.replicas]}
        ),
    }


def fleet_table(entries: Sequence[FleetEntry], now: datetime) -> str:
    """The fleet as a table: name, health, last and next rotation, detail (and, when asked,
    each other region: `eu-west-1 same`, `ap-south-1 LAGS`, `us-east-1 primary LAGS`)."""
    rows = []
    asked = any(entry.replicas is not None for entry in entries)
    for entry in entries:
        d, diagnosis = entry.description, entry.diagnosis
        detail = f"pending {diagnosis.pending}" if diagnosis.pending else ""
        if d.deleted is not None:
            detail = f"deleted {when(d.deleted, now)}" + (f"; {detail}" if detail else "")
        row = [
            d.name,
            diagnosis.health.value,
            _day(d.last_rotated, "never"),
            _day(d.next_rotation, "-") if d.rotation_enabled else "-",
        ]
        if asked:
            row.append(", ".join(_region(r) for r in entry.replicas or ()) or "-")
        rows.append([*row, detail])
    regions = ["regions"] if asked else []
    return table(rows, ["name", "health", "last rotated", "next rotation", *regions, "detail"])


def _region(state: ReplicaState) -> str:
    kind = " primary" if state.primary else ""
    same = {True: "same", False: "LAGS", None: "unread"}[state.in_sync]
    return f"{state.region}{kind} {same}"


def _day(moment: datetime | None, missing: str) -> str:
    return missing if moment is None else (iso(moment) or "")[:16].replace("T", " ")
