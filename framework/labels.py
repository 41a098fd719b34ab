"""Staging labels: their order, the label changes a step makes, and what a refusal says.

One source for each rule that the engine and the operator tools share:

- `LABEL_ORDER`: how labels are listed (AWSCURRENT, AWSPENDING, AWSPREVIOUS, then the others).
- `finish_labels`: finishSecret's label moves, made by `Rotator._finish` and by
  `smrotate cancel --cleanup` when it finishes a rotation; `finish_changes` describes them.
- `rotation_in_progress` and `rotation_starting`: the one wording of "another rotation holds
  the secret", for every RotationInProgressError and the CLI's refusal before RotateSecret.

Imports nothing but the store's label names; no AWS call happens here except in
`LabelChange.apply` and `finish_labels`.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from smrotate.store import CURRENT, PENDING, PREVIOUS

if TYPE_CHECKING:
    from smrotate.store import SecretStore

LABEL_ORDER = (CURRENT, PENDING, PREVIOUS)


def label_rank(label: str) -> int:
    """0, 1, 2 for AWSCURRENT, AWSPENDING, AWSPREVIOUS; 3 for any other label."""
    return LABEL_ORDER.index(label) if label in LABEL_ORDER else len(LABEL_ORDER)


def in_label_order(labels: Iterable[str]) -> list[str]:
    """`labels` in LABEL_ORDER, then the others by name."""
    return sorted(labels, key=lambda label: (label_rank(label), label))


@dataclass(frozen=True)
class LabelChange:
    """One UpdateSecretVersionStage: `label` onto `version` (from `moved_from`), or off it."""

    label: str
    version: str
    remove: bool = False
    moved_from: str | None = None

    def apply(self, store: SecretStore, arn: str) -> None:
        """Make the change (one UpdateSecretVersionStage)."""
        if self.remove:
            store.remove_label(arn, self.label, self.version)
        else:
            store.move_label(arn, self.label, self.version, self.moved_from)


def finish_changes(token: str, current: str | None) -> tuple[LabelChange, LabelChange]:
    """finishSecret's label moves, in order: AWSCURRENT to `token` (RemoveFromVersionId =
    `current`, the version that holds it; AWS moves AWSPREVIOUS itself), then AWSPENDING off
    `token`."""
    return (
        LabelChange(CURRENT, token, moved_from=current),
        LabelChange(PENDING, token, remove=True),
    )


def finish_labels(store: SecretStore, arn: str, token: str, current: str | None) -> None:
    """Make finishSecret's label moves (`finish_changes`): two UpdateSecretVersionStage calls.

    Safe to run again: a crash between the two leaves AWSCURRENT and AWSPENDING on `token`,
    which the next finishSecret completes by removing AWSPENDING.
    """
    for change in finish_changes(token, current):
        change.apply(store, arn)


def rotation_in_progress(name: str, version: str, ref: str | None = None) -> str:
    """Why a rotation may not start: `version` holds AWSPENDING without AWSCURRENT (AWS's
    "a previous rotation isn't complete"), and how to resume or clean it up.

    `name` is the secret's name; `ref` is how the commands name it (default `name`). The message
    for RotationInProgressError, and for the CLI's refusal before RotateSecret.
    """
    quoted = shlex.quote(ref or name)
    return (
        f"a previous rotation of secret {name} isn't complete: version {version} holds "
        f"AWSPENDING. Resume it with --resume {version} (`smrotate run {quoted} --rotator "
        f"ROTATOR --resume {version}`), or clean it up with `smrotate cancel {quoted} --cleanup "
        f"--rotator ROTATOR`; `smrotate status {quoted}` shows where it stands"
    )


def rotation_starting(name: str, version: str, ref: str | None = None) -> str:
    """Why a rotation may not start: `version` claims the secret (a local rotation is between
    its claim and AWSPENDING, see Rotator._take_pending), and what to do.

    `name` and `ref` as for `rotation_in_progress`. The message for RotationInProgressError.
    """
    quoted = shlex.quote(ref or name)
    return (
        f"another rotation of secret {name} is starting: version {version} claims the secret. "
        "Wait for it, then start a new one; if no rotation is running (its process died while "
        f"claiming), `smrotate cancel {quoted} --cleanup` removes the stale claim"
    )
