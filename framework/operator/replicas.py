"""A secret's replicas: does each region hold the primary's AWSCURRENT version?

Secrets Manager replicates every version of a primary secret to its replica regions; an
application reading a replica gets the password the rotation set only once the replica holds
the new AWSCURRENT. DescribeSecret on the primary lists the replica regions with their
replication status (InSync, InProgress, Failed); one DescribeSecret per replica region gives
the replica's own labels. On a replica, its primary is described instead. Read-only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smrotate.errors import StoreError
from smrotate.store import SecretDescription, SecretStore


@dataclass(frozen=True)
class ReplicaState:
    """One other region of the secret: the primary's replica, or (`primary`) the primary."""

    region: str
    status: str  # ReplicationStatus' Status on a replica; "primary" for the primary
    current: str | None  # the AWSCURRENT version id there; None when it could not be read
    in_sync: bool | None  # holds the same AWSCURRENT as this secret; None when unknown
    problem: str = ""  # why it could not be read, or the replication status message
    primary: bool = False

    def text(self) -> str:
        """`eu-west-1  InSync, AWSCURRENT is <v> (the same)` and the like."""
        what = "primary" if self.primary else f"replica, {self.status or 'status unknown'}"
        if self.current is None:
            return f"{self.region}  {what}; not read: {self.problem}"
        lag = "this replica lags behind it" if self.primary else "it lags behind"
        same = "the same" if self.in_sync else f"NOT the same: {lag}"
        note = f" ({self.problem})" if self.problem and not self.in_sync else ""
        return f"{self.region}  {what}; AWSCURRENT is {self.current} ({same}){note}"


def replica_states(
    description: SecretDescription, store_in: Callable[[str], SecretStore]
) -> list[ReplicaState]:
    """The other regions of `description`'s secret, each described through `store_in(region)`
    (a store for that region): its replicas on a primary, the primary on a replica."""
    if description.is_replica:
        assert description.primary_region is not None
        return [_state(description, store_in, description.primary_region, "primary", "")]
    return [
        _state(description, store_in, region, status, message)
        for region, status, message in description.replicas
    ]


def _state(
    description: SecretDescription,
    store_in: Callable[[str], SecretStore],
    region: str,
    status: str,
    message: str,
) -> ReplicaState:
    primary = status == "primary"
    try:
        there = store_in(region).describe(description.name)
    except StoreError as exc:
        return ReplicaState(region, status, None, None, exc.code or str(exc), primary)
    kept = "" if status in ("InSync", "primary") else message
    current = there.current
    return ReplicaState(region, status, current, current == description.current, kept, primary)


def replica_record(state: ReplicaState) -> dict[str, Any]:
    """JSON-ready."""
    return {
        "region": state.region,
        "role": "primary" if state.primary else "replica",
        "replication_status": None if state.primary else state.status,
        "current_version": state.current,
        "holds_same_current": state.in_sync,
        "problem": state.problem or None,
    }
