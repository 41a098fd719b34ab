"""`smrotate cancel [--cleanup]`: CancelRotateSecret, then a repair that never strands the target.

CancelRotateSecret turns rotation off but leaves AWSPENDING where it was, and AWS asks users to
remove it. Removing it is not always safe: once setSecret has run for a single-user secret, the
target holds the pending password and AWSCURRENT no longer logs in. So cleanup decides from what
the target accepts, checked with the rotator (`--rotator`):

- AWSCURRENT logs in: the target still accepts the current credentials, so AWSPENDING is removed
  from the unfinished version (discard). Then the rotator retires the discarded credentials
  (`PasswordRotator.retire_discarded`): with alternating users the inactive user may already hold
  the discarded password, which no label points at any more, so the admin gives it a fresh one
  that no version holds.
- AWSCURRENT is refused and the pending credentials pass testSecret's check (the rotator's
  `verify`): setSecret had already run, so the rotation is finished with finishSecret's
  own label moves (`smrotate.labels.finish_labels`): AWSCURRENT moves to the pending version
  (AWSPREVIOUS follows), then AWSPENDING is removed. They are called here, not through the
  rotator's finishSecret step, because the rotator refuses every step while rotation is off,
  which it is after the cancel.
- Neither works: the working password may sit in a version that holds no label (a rotation
  whose AWSPENDING another rotation took had set it; see defect 9's races), or in AWSPREVIOUS.
  Cleanup lists the versions (ListSecretVersionIds with IncludeDeprecated; moto lists them all
  anyway) and logs in, as the rotator, with AWSPREVIOUS and then the newest unlabelled versions
  (at most `MAX_CANDIDATES`) that name the same account as AWSCURRENT or AWSPENDING. The first
  that logs in gets AWSCURRENT back (restore), and AWSPENDING is removed. The same search runs
  when no version holds AWSPENDING but AWSCURRENT is refused.
- None of these works, the target cannot be reached, or there is no --rotator to ask: nothing
  is changed, and the reason and the next step are reported (exit 13).

Cleanup also removes the claim labels that a local rotation left if it died while claiming
the secret (`smrotate-claim-<version>`: they block every new rotation), except when it refuses.

Order: DescribeSecret; without --rotator, refuse at once if there is something to check; else
CancelRotateSecret (so no new step of this rotation can run), DescribeSecret again, the checks,
then the label changes. --dry-run makes the checks (they only log in) and changes nothing.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from smrotate.accounts import Account
from smrotate.errors import LoginRefusedError, SecretFormatError, SmrotateError, TargetError
from smrotate.labels import LabelChange, finish_changes, finish_labels
from smrotate.operator.health import ROTATOR_HINT
from smrotate.store import (
    CLAIM_PREFIX,
    CURRENT,
    PENDING,
    PREVIOUS,
    Secret,
    SecretDescription,
    SecretStore,
    claim_label,
)


@runtime_checkable
class CleanupChecks(Protocol):
    """What cleanup asks of the rotator `--rotator` names. Every PasswordRotator has it; another
    rotator implements these members (the IAM-key rotator does: rotators/iam_keys/checks.py).
    The parsed values need `same_account(other) -> bool`."""

    def parse_secret(self, value: Secret, what: str) -> Any:
        """The parsed value; SecretFormatError naming the field."""

    def logs_in(self, account: Any) -> bool:
        """True when the target accepts it, False when refused; other failures raise."""

    def verify(self, account: Any) -> None:
        """testSecret's proof; LoginRefusedError when refused. Read-only."""

    @property
    def retires_discarded(self) -> bool:
        """True when `retire_discarded` may have work to do."""

    def retire_discarded(self, description: SecretDescription, version: str) -> bool:
        """Leave no working credentials that only the discarded `version` holds."""


# How many of the newest unlabelled versions cleanup tries when no labelled version logs in:
# each is one GetSecretValue and one login (a refused one counts as a failed login).
MAX_CANDIDATES = 5


class Decision(StrEnum):
    """What cleanup does with the unfinished version."""

    NOTHING = "nothing to clean up"
    DISCARD = "discard the pending version"
    FINISH = "finish the rotation"
    RESTORE = "restore AWSCURRENT to a version that logs in"
    REFUSE = "refused"


def change_text(change: LabelChange, done: bool) -> str:
    """`removed AWSPENDING from version X` (or `would remove ...` when not done)."""
    if change.remove:
        verb = "removed" if done else "would remove"
        return f"{verb} {change.label} from version {change.version}"
    verb = "moved" if done else "would move"
    if change.moved_from is None:
        return f"{verb} {change.label} to version {change.version}"
    return f"{verb} {change.label} from version {change.moved_from} to version {change.version}"


def change_record(change: LabelChange) -> dict[str, Any]:
    """JSON-ready."""
    if change.remove:
        return {"action": "remove", "label": change.label, "version": change.version}
    return {
        "action": "move",
        "label": change.label,
        "from_version": change.moved_from,
        "to_version": change.version,
    }


@dataclass
class Plan:
    """Cleanup's decision for one secret, why, what it checked, and the label changes.

    `finish` is (pending, current) when the rotation is finished: finishSecret's label moves,
    made by the engine (`finish_labels`) before the other `changes`.
    """

    decision: Decision
    reason: str
    pending: str | None = None
    current: str | None = None
    checks: list[str] = field(default_factory=list)
    changes: list[LabelChange] = field(default_factory=list)
    finish: tuple[str, str] | None = None

    @property
    def label_changes(self) -> list[LabelChange]:
        """Every label change, in the order `apply` makes them."""
        finishing = finish_changes(*self.finish) if self.finish is not None else ()
        return [*finishing, *self.changes]


def assess(
    store: SecretStore,
    description: SecretDescription,
    rotator: CleanupChecks | None,
    ref: str,
) -> Plan:
    """Decide what cleanup may do; read-only (reads versions and logs in with them)."""
    plan = _assess(store, description, rotator, ref)
    if plan.decision is not Decision.REFUSE:
        plan.changes += [
            LabelChange(claim_label(version), version, remove=True)
            for version in sorted(description.claims)
        ]
    return plan


def _assess(
    store: SecretStore,
    description: SecretDescription,
    rotator: CleanupChecks | None,
    ref: str,
) -> Plan:
    pending, current = description.unfinished, description.current
    quoted = shlex.quote(ref)
    if pending is None:
        plan = Plan(
            Decision.NOTHING,
            "no version holds AWSPENDING without AWSCURRENT; the next rotation can start",
            current=current,
        )
        if rotator is not None and current is not None:
            _check_current_alone(store, description, rotator, plan, current)
        return plan
    if current is None:
        return Plan(
            Decision.REFUSE,
            f"no version of secret {description.name} holds AWSCURRENT, so there is nothing to "
            "compare with; label a working version AWSCURRENT by hand "
            "(aws secretsmanager update-secret-version-stage)",
            pending,
        )
    if rotator is None:
        return Plan(
            Decision.REFUSE,
            f"version {pending} holds AWSPENDING and cannot be checked without --rotator. Once "
            "setSecret has run for a single-user secret, the target holds the pending password "
            "and AWSCURRENT no longer logs in, so discarding AWSPENDING unchecked could lock the "
            f"application out. Run again with --rotator ROTATOR ({ROTATOR_HINT}), or cancel "
            f"without cleanup: smrotate cancel {quoted}",
            pending,
            current,
        )
    return _check_logins(store, description, rotator, pending, current)


def _check_current_alone(
    store: SecretStore,
    description: SecretDescription,
    rotator: CleanupChecks,
    plan: Plan,
    current: str,
) -> None:
    """No rotation is unfinished: check that AWSCURRENT logs in; restore one that does if not."""
    try:
        current_value = rotator.parse_secret(
            store.read(description.arn, version_id=current),
            f"the AWSCURRENT value of secret {description.name}",
        )
        works = rotator.logs_in(current_value)
    except (TargetError, SmrotateError) as exc:
        plan.checks.append(f"could not check AWSCURRENT (version {current}): {exc}")
        return
    plan.checks.append(f"AWSCURRENT (version {current}) {'logs in' if works else 'is refused'}")
    if works:
        return
    plan.reason = (
        "no rotation is unfinished, but AWSCURRENT is refused and no other version that names "
        "the same account logs in; set the user's password by hand to the AWSCURRENT value"
    )
    plan.decision = Decision.REFUSE
    _restore(store, description, rotator, plan, [current_value])


def _check_logins(
    store: SecretStore,
    description: SecretDescription,
    rotator: CleanupChecks,
    pending: str,
    current: str,
) -> Plan:
    """Log in with AWSCURRENT, then (only if refused) prove AWSPENDING, then (only if refused)
    look for another version that logs in; decide from that."""
    plan = Plan(Decision.REFUSE, "", pending, current)
    try:
        current_value = rotator.parse_secret(
            store.read(description.arn, version_id=current),
            f"the AWSCURRENT value of secret {description.name}",
        )
        current_works = rotator.logs_in(current_value)
    except (TargetError, SmrotateError) as exc:
        plan.reason = f"could not check AWSCURRENT (version {current}): {exc}; nothing changed"
        return plan
    plan.checks.append(
        f"AWSCURRENT (version {current}) {'logs in' if current_works else 'is refused'}"
    )
    if current_works:
        plan.decision = Decision.DISCARD
        plan.reason = (
            "AWSCURRENT logs in, so the target still accepts the current credentials: removing "
            f"AWSPENDING from version {pending} leaves everything working"
        )
        plan.changes.append(LabelChange(PENDING, pending, remove=True))
        return plan
    pending_raw = store.read_if_exists(description.arn, pending)
    if pending_raw is None:
        plan.reason = (
            f"AWSCURRENT is refused and version {pending} has no value (createSecret never "
            "stored one), and no other version that names the same account logs in, so the "
            "target's password changed outside this rotation; set it back by hand to the "
            "AWSCURRENT value, then run cleanup again"
        )
        _restore(store, description, rotator, plan, [current_value])
        return plan
    try:
        pending_value = rotator.parse_secret(
            pending_raw, f"the AWSPENDING value of secret {description.name}"
        )
        rotator.verify(pending_value)
    except LoginRefusedError:
        plan.checks.append(f"AWSPENDING (version {pending}) is refused")
        plan.reason = (
            "neither AWSCURRENT nor AWSPENDING logs in, nor does AWSPREVIOUS or a recent "
            "unlabelled version of the same account, so none may be trusted; set the user's "
            "password by hand to the AWSCURRENT value, then run cleanup again"
        )
        _restore(store, description, rotator, plan, [current_value, pending_value])
        return plan
    except (TargetError, SmrotateError) as exc:
        plan.reason = f"could not check AWSPENDING (version {pending}): {exc}; nothing changed"
        return plan
    plan.checks.append(f"AWSPENDING (version {pending}) passes testSecret's check")
    plan.decision = Decision.FINISH
    plan.reason = (
        "AWSCURRENT is refused and AWSPENDING works: setSecret had already changed the "
        "password, so discarding AWSPENDING would strand the application; the rotation is "
        "finished instead"
    )
    plan.finish = (pending, current)
    return plan


def _restore(
    store: SecretStore,
    description: SecretDescription,
    rotator: CleanupChecks,
    plan: Plan,
    accounts: list[Account],
) -> None:
    """No labelled candidate logged in: try AWSPREVIOUS, then the newest unlabelled versions
    that name one of `accounts`; on the first that logs in, plan RESTORE. Leaves `plan` as it
    is (a refusal) when none does; read-only."""
    for version, what in _candidates(store, description, plan):
        try:
            raw = store.read_if_exists(description.arn, version)
            if raw is None:
                continue
            value = rotator.parse_secret(raw, f"version {version} of secret {description.name}")
        except SecretFormatError:
            continue
        except (TargetError, SmrotateError) as exc:
            plan.checks.append(f"could not read {what} (version {version}): {exc}")
            return
        if not any(value.same_account(account) for account in accounts):
            continue  # another user or target: never promoted, never tried
        try:
            works = rotator.logs_in(value)
        except (TargetError, SmrotateError) as exc:
            plan.checks.append(f"could not check {what} (version {version}): {exc}")
            return
        plan.checks.append(f"{what} (version {version}) {'logs in' if works else 'is refused'}")
        if works:
            _plan_restore(plan, version, what)
            return


def _candidates(
    store: SecretStore, description: SecretDescription, plan: Plan
) -> list[tuple[str, str]]:
    """(version, how to name it): AWSPREVIOUS, then the newest unlabelled versions."""
    known = {plan.current, plan.pending}
    found: list[tuple[str, str]] = []
    previous = description.previous
    if previous is not None and previous not in known:
        found.append((previous, PREVIOUS))
        known.add(previous)
    try:
        listed = store.list_versions(description.arn, include_deprecated=True)
    except SmrotateError as exc:
        plan.checks.append(f"could not list the versions without a label: {exc}")
        return found
    unlabelled = [
        v.version_id
        for v in listed
        if v.version_id not in known and all(label.startswith(CLAIM_PREFIX) for label in v.labels)
    ]
    found += [(version, "the unlabelled version") for version in unlabelled[:MAX_CANDIDATES]]
    return found


def _plan_restore(plan: Plan, version: str, what: str) -> None:
    plan.decision = Decision.RESTORE
    plan.reason = (
        f"no labelled version logged in, but {what} (version {version}) does: a rotation had "
        "set its password and then lost AWSPENDING (two rotations raced) or AWSCURRENT was "
        "moved back; AWSCURRENT moves to it"
        + (f", and AWSPENDING is removed from version {plan.pending}" if plan.pending else "")
    )
    plan.changes.append(LabelChange(CURRENT, version, moved_from=plan.current))
    if plan.pending is not None and plan.pending != version:
        plan.changes.append(LabelChange(PENDING, plan.pending, remove=True))


def apply(store: SecretStore, arn: str, plan: Plan) -> None:
    """Make the plan's label changes, in order: finishSecret's own moves when the plan finishes
    the rotation (`finish_labels`), then each other change (one UpdateSecretVersionStage)."""
    if plan.finish is not None:
        finish_labels(store, arn, *plan.finish)
    for change in plan.changes:
        change.apply(store, arn)


@dataclass
class CancelReport:
    """What `cancel` did (or, with --dry-run, would do)."""

    name: str
    arn: str
    dry_run: bool
    rotation_was_enabled: bool
    cancel_called: bool = False
    cancel_skipped_reason: str | None = None
    cancelled_version: str | None = None
    plan: Plan | None = None
    leftover_pending: str | None = None
    retired: bool = False  # the discarded credentials were made to stop working

    @property
    def refused(self) -> bool:
        """True when cleanup refused to change anything."""
        return self.plan is not None and self.plan.decision is Decision.REFUSE


def cancel(
    store: SecretStore,
    secret_id: str,
    *,
    cleanup: bool,
    dry_run: bool,
    rotator: CleanupChecks | None,
) -> CancelReport:
    """CancelRotateSecret and, with `cleanup`, the repair described in the module docstring."""
    before = store.describe(secret_id)
    report = CancelReport(before.name, before.arn, dry_run, before.rotation_enabled)
    needs_cancel = before.rotation_enabled or not cleanup
    if cleanup and before.unfinished is not None and rotator is None:
        report.plan = assess(store, before, None, secret_id)
        report.cancel_skipped_reason = "cleanup refused before any change"
        return report
    if dry_run:
        if not needs_cancel:
            report.cancel_skipped_reason = "rotation is already off"
        if cleanup:
            report.plan = assess(store, before, rotator, secret_id)
        else:
            report.leftover_pending = before.unfinished
        return report
    if needs_cancel:
        report.cancelled_version = store.cancel_rotation(secret_id)
        report.cancel_called = True
    else:
        report.cancel_skipped_reason = "rotation is already off"
    after = store.describe(secret_id)
    if not cleanup:
        report.leftover_pending = after.unfinished
        return report
    report.plan = assess(store, after, rotator, secret_id)
    apply(store, after.arn, report.plan)
    discarded = report.plan.decision is Decision.DISCARD and report.plan.pending
    if discarded and rotator is not None and rotator.retires_discarded:
        report.retired = _retire(store, after, rotator, str(report.plan.pending))
    return report


def _retire(
    store: SecretStore, description: SecretDescription, rotator: CleanupChecks, pending: str
) -> bool:
    """After a discard: the rotator makes sure the discarded credentials stop working where
    AWSCURRENT's kept working (alternating users: the inactive user gets a fresh password).
    Not when the version still holds AWSPREVIOUS (an abandoned rollback's): those credentials
    are AWSPREVIOUS's, which applications may still use."""
    if PREVIOUS in description.labels(pending):
        return False
    if store.read_if_exists(description.arn, pending) is None:
        return False
    return rotator.retire_discarded(description, pending)


def report_lines(report: CancelReport, ref: str) -> list[str]:
    """The report as sentences, one per line, saying exactly what changed."""
    quoted = shlex.quote(ref)
    lines = []
    if report.cancel_called:
        lines.append(f"CancelRotateSecret: rotation of secret {report.name} is now off")
    elif report.dry_run and not report.cancel_skipped_reason:
        lines.append(f"would call CancelRotateSecret: rotation of secret {report.name} is on")
    elif report.cancel_skipped_reason:
        lines.append(f"CancelRotateSecret not called: {report.cancel_skipped_reason}")
    plan = report.plan
    if plan is not None:
        lines.extend(f"checked: {check}" for check in plan.checks)
        lines.append(f"cleanup: {plan.decision.value}: {plan.reason}")
        done = not report.dry_run and plan.decision is not Decision.REFUSE
        lines.extend(change_text(change, done) for change in plan.label_changes)
        if plan.decision is Decision.REFUSE:
            lines.append("no label changed")
        elif not plan.label_changes:
            lines.append("no label changed" if not report.dry_run else "would change no label")
    if report.retired:
        lines.append(
            "the discarded version's credentials still worked: the rotator retired them (a "
            "fresh password that no version holds, or the IAM access key deleted)"
        )
    if report.leftover_pending:
        lines.append(
            f"version {report.leftover_pending} still holds AWSPENDING: the next rotation fails "
            "until it is cleaned up: smrotate cancel "
            f"{quoted} --cleanup --rotator ROTATOR ({ROTATOR_HINT})"
        )
    if report.cancel_called or (report.dry_run and not report.cancel_skipped_reason):
        lines.append(f"to turn rotation back on: smrotate rotate {quoted} --wait")
    return lines


def report_record(report: CancelReport) -> dict[str, Any]:
    """The report as JSON-ready data."""
    plan = report.plan
    return {
        "name": report.name,
        "arn": report.arn,
        "dry_run": report.dry_run,
        "rotation_was_enabled": report.rotation_was_enabled,
        "cancel_called": report.cancel_called,
        "cancel_skipped": report.cancel_skipped_reason,
        "cancelled_version": report.cancelled_version,
        "cleanup": None
        if plan is None
        else {
            "decision": plan.decision.name.lower(),
            "reason": plan.reason,
            "pending_version": plan.pending,
            "current_version": plan.current,
            "checks": plan.checks,
            "changes": [change_record(c) for c in plan.label_changes],
            "applied": not report.dry_run and plan.decision is not Decision.REFUSE,
        },
        "leftover_pending": report.leftover_pending,
        "retired_discarded_credentials": report.retired,
    }
