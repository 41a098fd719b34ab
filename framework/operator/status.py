"""`smrotate status`: one secret's rotation settings, versions and diagnosis.

Two calls per secret: DescribeSecret (settings and labels) and ListSecretVersionIds (when each
version was made, for "stuck since"). If the identity may not list versions, the status is shown
without those dates and the pending version's age falls back to LastChangedDate. A replicated
secret costs one DescribeSecret more per other region (replicas.py): whether each replica holds
the primary's AWSCURRENT.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from smrotate.errors import StoreError
from smrotate.labels import LABEL_ORDER, label_rank
from smrotate.operator.health import ROTATOR_HINT, Diagnosis, diagnose, schedule_text
from smrotate.operator.output import fields, iso, labels_text, when
from smrotate.operator.replicas import ReplicaState, replica_record, replica_states
from smrotate.store import SecretDescription, SecretStore


@dataclass(frozen=True)
class SecretStatus:
    """A secret's description (with version dates when known) and its diagnosis."""

    description: SecretDescription
    diagnosis: Diagnosis
    dates_known: bool
    replicas: list[ReplicaState] = field(default_factory=list)


def secret_status(
    store: SecretStore,
    secret_id: str,
    now: datetime,
    stuck_after: timedelta,
    store_in: Callable[[str], SecretStore] | None = None,
) -> SecretStatus:
    """Describe `secret_id`, list its version dates, diagnose it, and (with `store_in`, a store
    per region) describe its other regions."""
    description = store.describe(secret_id)
    dates_known = True
    try:
        dates = store.version_dates(description.arn)
    except StoreError as exc:
        if exc.code not in ("AccessDeniedException", "AccessDenied"):
            raise
        dates, dates_known = {}, False
    description = dataclasses.replace(description, version_created=dates)
    pending = description.unfinished
    since = dates.get(pending) if pending else None
    diagnosis = diagnose(
        description,
        now,
        pending_since=since or description.last_changed,
        stuck_after=stuck_after,
        secret_ref=secret_id,
    )
    replicas = replica_states(description, store_in) if store_in is not None else []
    return SecretStatus(description, diagnosis, dates_known, replicas)


def status_record(status: SecretStatus) -> dict[str, Any]:
    """The status as JSON-ready data."""
    d = status.description
    diagnosis = status.diagnosis
    return {
        "name": d.name,
        "arn": d.arn,
        "rotation_enabled": d.rotation_enabled,
        "rotation_function": d.rotation_lambda_arn,
        "rotation_rules": dict(d.rotation_rules),
        "last_rotated": iso(d.last_rotated),
        "next_rotation": iso(d.next_rotation),
        "last_changed": iso(d.last_changed),
        "deleted": iso(d.deleted),
        "versions": [
            {"version_id": v, "labels": sorted(labels), "created": iso(d.version_created.get(v))}
            for v, labels in _ordered_versions(d)
        ],
        "health": diagnosis.health.value,
        "detail": diagnosis.detail,
        "pending_version": diagnosis.pending,
        "pending_since": iso(diagnosis.since),
        "repair": diagnosis.repair,
        "repair_alternative": diagnosis.alternative,
        "primary_region": d.primary_region,
        "replicas": [replica_record(r) for r in status.replicas],
    }


def status_text(status: SecretStatus, now: datetime) -> str:
    """The status as an aligned block of `key  value` lines."""
    d = status.description
    diagnosis = status.diagnosis
    pairs = [
        ("secret", d.name),
        ("arn", d.arn),
        ("rotation", "enabled" if d.rotation_enabled else "disabled"),
        ("function", d.rotation_lambda_arn or "none"),
        ("schedule", schedule_text(dict(d.rotation_rules))),
        ("last rotated", when(d.last_rotated, now)),
        ("next rotation", when(d.next_rotation, now) if d.next_rotation else "not scheduled"),
    ]
    if d.deleted is not None:
        pairs.append(("deleted", f"scheduled for deletion {when(d.deleted, now)}"))
    versions = _ordered_versions(d)
    for index, (version, labels) in enumerate(versions):
        created = d.version_created.get(version)
        made = f"  created {when(created, now)}" if created else ""
        pairs.append(("versions" if index == 0 else "", f"{version}  {labels_text(labels)}{made}"))
    if not versions:
        pairs.append(("versions", "none with a label"))
    for index, replica in enumerate(status.replicas):
        pairs.append(("" if index else "regions", replica.text()))
    pairs.append(("health", diagnosis.health.value.upper()))
    pairs.append(("diagnosis", diagnosis.detail))
    if diagnosis.repair:
        pairs.append(("repair", diagnosis.repair))
    if diagnosis.alternative:
        pairs.append(("or finish it", diagnosis.alternative))
    if diagnosis.needs_rotator:
        pairs.append(("", f"({ROTATOR_HINT}; --dry-run shows the changes first)"))
    if not status.dates_known:
        pairs.append(("note", "version dates unknown (ListSecretVersionIds was denied)"))
    return fields(pairs)


def _ordered_versions(d: SecretDescription) -> list[tuple[str, frozenset[str]]]:
    """Versions by their first label in LABEL_ORDER, then by id; versions with no label last."""
    unlabelled = len(LABEL_ORDER) + 1
    return sorted(
        d.versions.items(),
        key=lambda item: (min(map(label_rank, item[1]), default=unlabelled), item[0]),
    )
