"""`smrotate rollback`: make AWSPREVIOUS's credentials current again, through the rotator.

Moving the labels by hand leaves the target behind: after a single-user rotation the target
holds only AWSCURRENT's password, so labelling the old version AWSCURRENT again locks the
application out. A rollback is therefore a rotation whose pending version is AWSPREVIOUS's own
version P, run through the rotator's normal handler (`local_run.run_rotation`, the local
driver with token P), so every guard of a rotation applies:

1. Checks, read-only (they run with --dry-run too): no rotation in progress (no version holds
   AWSPENDING without AWSCURRENT, no claim label), rotation on (the steps run only then), an
   AWSPREVIOUS other than AWSCURRENT; both values parse; AWSPREVIOUS names the account that the
   strategy would rotate AWSCURRENT to, at the same target (`Strategy.pending_username`: the
   same user for single-user, via-admin and dual-password, the pair's other user for the
   alternating strategies), without dropping TLS; then a login with each (`logs_in`). A
   rotator that cannot set a password back (not a PasswordRotator: the IAM-key rotator) needs
   AWSPREVIOUS to log in already; a PasswordRotator needs one of the two to log in (setSecret
   proves it owns the account before any change).
2. AWSPENDING is put on P (it holds a value, so createSecret has nothing to do); the labels are
   read again, and the rollback backs off (removing its AWSPENDING) if another rotation holds
   or claims the secret.
3. The four steps with token P: setSecret sets P's password back through the strategy (the
   user itself, or the admin named by AWSCURRENT's `masterarn` with the same-server and
   privilege guards), testSecret proves it, finishSecret moves AWSCURRENT to P (AWSPREVIOUS
   follows to the version that was current) and removes AWSPENDING.

A step that fails leaves what a failed rotation leaves. The rollback then reads the labels and
logs in with AWSCURRENT: if it still works, it removes its AWSPENDING (labels as before);
otherwise setSecret had already set P's password, which P (AWSPENDING) holds, and running
rollback again resumes the rollback (the state "AWSPREVIOUS and AWSPENDING on one version" is
an interrupted rollback). No secret value is ever reported.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from smrotate.errors import (
    SecretFormatError,
    SmrotateError,
    StoreError,
    TargetError,
    VersionNotFoundError,
)
from smrotate.events import RotationEvent, Step
from smrotate.labels import (
    LabelChange,
    finish_changes,
    rotation_in_progress,
    rotation_starting,
)
from smrotate.operator.cleanup import CleanupChecks, change_record, change_text
from smrotate.operator.local_run import RunReport, run_record, run_rotation, step_line
from smrotate.password_rotator import PasswordRotator, Target
from smrotate.rotator import Rotator, StepContext
from smrotate.store import CURRENT, PENDING, PREVIOUS, SecretDescription, SecretStore


class Outcome(StrEnum):
    """How a rollback ended."""

    ROLLED_BACK = "rolled back"
    DRY_RUN = "would roll back"
    REFUSED = "refused"
    FAILED = "failed"


class Refused(Exception):
    """A check failed: nothing was changed (the message says why and what to do)."""


@dataclass
class RollbackReport:
    """What a rollback checked, changed (or would change with --dry-run) and ran."""

    name: str
    arn: str
    ref: str  # how the commands name the secret
    rotator: str  # how --rotator named it
    strategy: str | None  # as --strategy named it (for the commands the report suggests)
    dry_run: bool
    strategy_used: str | None = None  # the PasswordRotator's strategy; None for other rotators
    setting: str = ""  # what setSecret will have to do, as the logins showed
    outcome: Outcome = Outcome.REFUSED
    reason: str = ""
    current: str | None = None  # the version that held AWSCURRENT before the rollback
    previous: str | None = None  # AWSPREVIOUS's version: the one rolled back to
    resumed: bool = False  # AWSPENDING was on it already (an interrupted rollback)
    checks: list[str] = field(default_factory=list)
    changes: list[LabelChange] = field(default_factory=list)
    run: RunReport | None = None
    recovery: list[str] = field(default_factory=list)

    @property
    def exit_refused(self) -> bool:
        """True when nothing was changed because a check failed."""
        return self.outcome is Outcome.REFUSED


def rollback(
    store: SecretStore,
    rotator: Rotator,
    secret_id: str,
    *,
    rotator_name: str,
    strategy: str | None,
    dry_run: bool,
    started: Callable[[RollbackReport], None] | None = None,
) -> RollbackReport:
    """Roll `secret_id` back to AWSPREVIOUS (module docstring). Never raises for a failed check
    or step: the report says what happened. `started(report)` is called once the checks have
    passed, right before the first change (the CLI's audit line)."""
    description = store.describe(secret_id)
    report = RollbackReport(
        description.name,
        description.arn,
        secret_id,
        rotator_name,
        strategy,
        dry_run,
        current=description.current,
        previous=description.previous,
    )
    if not isinstance(rotator, CleanupChecks):
        report.reason = (
            f"rotator {rotator_name} cannot check logins (it has no logs_in and verify: see "
            "smrotate.operator.cleanup.CleanupChecks), so rollback cannot prove that the "
            "credentials it makes current work; nothing changed"
        )
        return report
    try:
        _check_state(description, report)
        _check_values(store, rotator, description, report)
    except Refused as exc:
        report.reason = f"{exc}; nothing changed"
        return report
    pending, current = str(report.previous), str(report.current)
    if not report.resumed:
        report.changes.append(LabelChange(PENDING, pending))
    report.changes += finish_changes(pending, current)
    if dry_run:
        report.outcome = Outcome.DRY_RUN
        report.reason = f"the checks passed; {report.setting}; nothing changed (--dry-run)"
        return report
    if started is not None:
        started(report)
    if not report.resumed:
        try:
            _take_pending(store, description, pending)
        except Refused as exc:
            report.reason = str(exc)
            return report
    report.run = run_rotation(store, rotator, description.arn, resume=pending, report=_ignore)
    if report.run.result.ok:
        report.outcome = Outcome.ROLLED_BACK
        report.reason = (
            f"{report.setting}; version {pending} is AWSCURRENT again and version {current} "
            "is AWSPREVIOUS, and testSecret proved that the target accepts AWSCURRENT"
        )
        return report
    report.outcome = Outcome.FAILED
    _after_failure(store, rotator, report)
    return report


def _ignore(entry: object) -> None:
    """Steps are reported all at once, with the rest of the report."""


def _check_state(description: SecretDescription, report: RollbackReport) -> None:
    """The labels allow a rollback: Refused otherwise (`report.resumed` set when AWSPENDING is
    on AWSPREVIOUS's version already: an interrupted rollback)."""
    name, quoted = description.name, shlex.quote(report.ref)
    current, previous = description.current, description.previous
    if description.deleted is not None:
        raise Refused(f"secret {name} is scheduled for deletion; restore it first")
    if current is None or len(description.holders(CURRENT)) > 1:
        raise Refused(
            f"secret {name} has no single AWSCURRENT version; `smrotate status {quoted}` shows "
            "the labels"
        )
    if len(description.holders(PREVIOUS)) > 1:
        raise Refused(f"more than one version of secret {name} holds AWSPREVIOUS")
    if description.claims:
        raise Refused(rotation_starting(name, min(description.claims), report.ref))
    unfinished = description.unfinished_versions
    if unfinished and unfinished != [previous]:
        raise Refused(rotation_in_progress(name, unfinished[0], report.ref))
    if previous is None or previous == current:
        raise Refused(
            f"no version of secret {name} holds AWSPREVIOUS (other than AWSCURRENT), so there "
            "is nothing to roll back to"
        )
    if not description.rotation_enabled:
        raise Refused(
            f"rotation is off for secret {name}, and a rollback runs the rotator's steps, which "
            "run only while rotation is on; turn it on without rotating (`smrotate rotate "
            f"{quoted} --no-immediately`), then run the rollback again"
        )
    if unfinished:
        report.resumed = True
        report.checks.append(
            f"version {previous} holds AWSPREVIOUS and AWSPENDING: a rollback was interrupted; "
            "this one resumes it"
        )
        return
    holders = description.holders(PENDING)
    if holders:  # AWSPENDING left on AWSCURRENT's version: finishSecret stopped before removing
        raise Refused(
            f"version {holders[0]} of secret {name} holds AWSCURRENT and AWSPENDING: a rotation "
            "stopped inside finishSecret; finish it first (`smrotate run "
            f"{quoted} --rotator {shlex.quote(report.rotator)} --resume {holders[0]}`)"
        )


def _check_values(
    store: SecretStore,
    rotator: CleanupChecks,
    description: SecretDescription,
    report: RollbackReport,
) -> None:
    """Both values parse, name the same account as the strategy sees it, and one logs in."""
    name = description.name
    current_version, previous_version = str(report.current), str(report.previous)
    try:
        current = rotator.parse_secret(
            store.read(description.arn, version_id=current_version),
            f"the AWSCURRENT value of secret {name}",
        )
        previous = rotator.parse_secret(
            store.read(description.arn, version_id=previous_version),
            f"the AWSPREVIOUS value of secret {name}",
        )
    except SecretFormatError as exc:
        raise Refused(f"a value does not parse: {exc}") from None
    except VersionNotFoundError:
        raise Refused(f"a version of secret {name} has no value to roll back to") from None
    _check_same_account(rotator, description, report, current, previous)
    works = {}
    for label, version, account in (
        (CURRENT, current_version, current),
        (PREVIOUS, previous_version, previous),
    ):
        try:
            works[label] = rotator.logs_in(account)
        except (TargetError, SmrotateError) as exc:
            raise Refused(f"could not check {label} (version {version}): {exc}") from None
        state = "logs in" if works[label] else "is refused"
        report.checks.append(f"{label} (version {version}) {state}")
    _check_logins(rotator, report, works[CURRENT], works[PREVIOUS])


def _check_same_account(
    rotator: CleanupChecks,
    description: SecretDescription,
    report: RollbackReport,
    current: Any,
    previous: Any,
) -> None:
    """Refused unless AWSPREVIOUS names the user the strategy would rotate AWSCURRENT to (for a
    PasswordRotator; same_account otherwise), at the same target, keeping TLS."""
    where = f"AWSPREVIOUS (version {report.previous})"
    if not isinstance(rotator, PasswordRotator):
        if not previous.same_account(current):
            raise Refused(f"{where} names another account than AWSCURRENT; refusing it")
        report.checks.append(f"{where} names the same account as AWSCURRENT")
        return
    strategy = rotator.strategy
    report.strategy_used = strategy.name
    event = RotationEvent(Step.SET, description.arn, str(report.previous))
    ctx = rotator.context(event, description)
    try:
        expected = strategy.pending_username(rotator, ctx, current)
    except SecretFormatError as exc:
        raise Refused(str(exc)) from None
    if previous.username != expected or previous.target != current.target:
        raise Refused(
            f"{where} names {previous.describe()}, but strategy {strategy.name} rolls "
            f"{current.describe()} back only to user {expected!r} at the same host and port; "
            "a rollback never points the rotator (or the admin) at another user or server"
            + _strategy_hint(rotator, ctx, current, previous)
        )
    if current.tls_required and not previous.tls_required:
        raise Refused(f"{where} turns TLS off where AWSCURRENT uses it; a rollback never drops TLS")
    report.checks.append(
        f"{where} names {previous.describe()}: the account that strategy {strategy.name} "
        f"rotates AWSCURRENT (version {report.current}) to"
    )


def _strategy_hint(rotator: Target, ctx: StepContext, current: Any, previous: Any) -> str:
    """` (... pass --strategy alternating-users)` when `previous` is exactly AWSCURRENT's clone
    or base under that strategy (alternating-pair accepts any second user, so it is no hint)."""
    from smrotate.strategies import AlternatingUsers

    name = AlternatingUsers.name
    if name == rotator.strategy.name or name not in rotator.strategies:
        return ""
    try:
        expected = AlternatingUsers().pending_username(rotator, ctx, current)
    except SmrotateError:
        return ""
    if expected != previous.username or previous.target != current.target:
        return ""
    return f" (if the secret is rotated with {name}, pass --strategy {name})"


def _check_logins(
    rotator: CleanupChecks, report: RollbackReport, current_works: bool, previous_works: bool
) -> None:
    if previous_works:
        report.setting = (
            "AWSPREVIOUS still logs in, so setSecret has little or nothing to change "
            "(dual-password makes it the newest password again)"
        )
        return
    if not isinstance(rotator, PasswordRotator):
        raise Refused(
            f"AWSPREVIOUS (version {report.previous}) is refused (an access key deactivated or "
            f"deleted since), and rotator {report.rotator} cannot make it work again; a new "
            f"rotation is the fix: smrotate run {shlex.quote(report.ref)} --rotator "
            f"{shlex.quote(report.rotator)}"
        )
    if not current_works:
        raise Refused(
            "neither AWSCURRENT nor AWSPREVIOUS logs in, and the rotator sets a password only "
            "once the account's own credentials prove it owns it; `smrotate cancel "
            f"{shlex.quote(report.ref)} --cleanup --rotator {shlex.quote(report.rotator)}` "
            "looks for a version that logs in"
        )
    report.setting = (
        "AWSPREVIOUS is refused, so setSecret sets its password back through the rotator "
        f"(strategy {rotator.strategy.name}), as a rotation would"
    )


def _take_pending(store: SecretStore, before: SecretDescription, pending: str) -> None:
    """AWSPENDING onto `pending`, then read the labels again: Refused (having removed it again)
    when another rotation holds or claims the secret, or AWSCURRENT or AWSPREVIOUS moved."""
    try:
        store.move_label(before.arn, PENDING, pending, None)
    except StoreError as exc:  # AWS refuses a label another version holds: another rotation
        raise Refused(
            f"could not put AWSPENDING on version {pending} ({exc}); nothing changed"
        ) from None
    after = store.describe(before.arn)
    moved = after.current != before.current or after.previous != pending
    if not moved and not after.rivals(pending):
        return
    if PENDING in after.labels(pending):
        store.remove_label(before.arn, PENDING, pending)
    raise Refused(
        f"another rotation of secret {before.name} started at the same time, or its labels "
        f"moved; the rollback removed its AWSPENDING from version {pending} and changed "
        "nothing else. Check with `smrotate status`, then run it again"
    )


def _after_failure(store: SecretStore, rotator: CleanupChecks, report: RollbackReport) -> None:
    """A step failed: undo the rollback when AWSCURRENT still logs in (remove its AWSPENDING);
    otherwise say how to resume it. Each action is noted in `report.recovery`."""
    pending, quoted = str(report.previous), shlex.quote(report.ref)
    again = f"smrotate rollback {quoted} --rotator {shlex.quote(report.rotator)}" + (
        f" --strategy {shlex.quote(report.strategy)}" if report.strategy else ""
    )
    failed = report.run.result.failed_step if report.run else None
    report.reason = f"{failed.value if failed else 'a step'} failed (its error is above)"
    after = store.describe(report.arn)
    labels = after.labels(pending)
    if CURRENT in labels:
        if PENDING in labels:
            store.remove_label(report.arn, PENDING, pending)
            report.recovery.append(
                f"AWSCURRENT had moved to version {pending}: removed AWSPENDING from it, which "
                "finishes the rollback"
            )
        report.outcome = Outcome.ROLLED_BACK
        return
    if PENDING not in labels:
        report.recovery.append(f"version {pending} no longer holds AWSPENDING; nothing to undo")
        return
    try:
        current = rotator.parse_secret(
            store.read(report.arn, version_id=str(report.current)),
            f"the AWSCURRENT value of secret {report.name}",
        )
        works = rotator.logs_in(current)
    except (TargetError, SmrotateError) as exc:
        report.recovery += [
            f"could not check AWSCURRENT after the failure: {exc}",
            f"version {pending} keeps AWSPENDING; resume the rollback: {again}",
        ]
        return
    if works:
        store.remove_label(report.arn, PENDING, pending)
        report.recovery += [
            "AWSCURRENT still logs in: the rollback was undone (AWSPENDING removed from version "
            f"{pending}); the labels are as before",
            f"fix the cause, then: {again}",
        ]
        return
    report.recovery += [
        "AWSCURRENT no longer logs in: setSecret had already set AWSPREVIOUS's password, which "
        f"version {pending} holds with AWSPENDING (as in a rotation's window)",
        f"finish the rollback (it resumes): {again}",
        f"or: smrotate run {quoted} --rotator {shlex.quote(report.rotator)} --resume {pending}",
    ]


# ------------------------------------------------------------------------- reporting


def audit_line(report: RollbackReport, caller: str, *, starting: bool = False) -> str:
    """One line for the audit trail (standard error): who, what, which versions; no value."""
    what = "starting" if starting else report.outcome.value
    if report.dry_run and not starting:
        what = f"dry run: {what}"
    return (
        f"smrotate audit: rollback of secret {report.name} ({report.arn}) by {caller}: "
        f"AWSCURRENT version {report.current} -> AWSPREVIOUS version {report.previous}; rotator "
        f"{report.rotator}, strategy {report.strategy_used or 'none'}; {what}"
    )


def report_lines(report: RollbackReport) -> list[str]:
    """The report as sentences, one per line, in the order things happened: the checks, the
    label changes and steps (or what --dry-run would do), the outcome, what to do next."""
    lines = [f"checked: {check}" for check in report.checks]
    if report.outcome is Outcome.DRY_RUN:
        lines += [change_text(change, False) for change in report.changes]
        lines.append(f"would run the four steps on version {report.previous}")
    elif report.run is not None:
        if not report.resumed:
            lines.append(change_text(report.changes[0], True))
        lines += [step_line(step) for step in report.run.steps]
        if report.run.result.ok:
            lines += [change_text(change, True) for change in report.changes[-2:]]
            lines.append(f"AWSPREVIOUS moved with it to version {report.current}")
    lines.append(f"rollback: {report.outcome.value}: {report.reason}")
    if report.outcome is Outcome.REFUSED and report.run is None:
        lines.append("no label changed")
    lines += report.recovery
    return lines


def report_record(report: RollbackReport, caller: str) -> dict[str, Any]:
    """The report as JSON-ready data."""
    run: Mapping[str, Any] = run_record(report.run) if report.run else {}
    return {
        "name": report.name,
        "arn": report.arn,
        "dry_run": report.dry_run,
        "caller": caller,
        "rotator": report.rotator,
        "strategy": report.strategy_used,
        "outcome": report.outcome.name.lower(),
        "reason": report.reason,
        "current_version": report.current,
        "previous_version": report.previous,
        "resumed": report.resumed,
        "checks": report.checks,
        "changes": [change_record(change) for change in report.changes],
        "applied": report.run is not None,
        "steps": run.get("steps", []),
        "failed_step": run.get("failed_step"),
        "recovery": report.recovery,
    }
