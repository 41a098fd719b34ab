"""The rotation health of one secret, from what DescribeSecret (or ListSecrets) reports.

Healths, most urgent first (the first that applies wins):

- stuck: a version holds AWSPENDING without AWSCURRENT (AWS's "rotation in progress" rule), and
  either rotation is off (nothing will finish it) or it has been so for `stuck_after` or longer.
  The next RotateSecret fails until it is finished or cleaned up.
- in-progress: the same, for less than `stuck_after`.
- disabled: rotation is not turned on.
- overdue: the rotation window has passed without a rotation (NextRotationDate plus the window,
  or LastRotatedDate plus the interval plus the window).
- never-rotated: rotation is on, and Secrets Manager has no LastRotatedDate.
- healthy: none of these.

Stuck and overdue need attention (exit status 9 from `status` and `fleet`).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from smrotate.operator.loading import ROTATOR_CHOICES
from smrotate.operator.output import span, utc, when
from smrotate.store import SecretDescription

DEFAULT_STUCK_AFTER = timedelta(minutes=15)
ROTATOR_HINT = f"ROTATOR is {ROTATOR_CHOICES}"

_RATE = re.compile(r"rate\(\s*(\d+)\s+(hour|hours|day|days)\s*\)")
_DURATION = re.compile(r"(\d{1,2})h")


class Health(StrEnum):
    """A secret's rotation health (see the module docstring for the rules)."""

    STUCK = "stuck"
    IN_PROGRESS = "in-progress"
    DISABLED = "disabled"
    OVERDUE = "overdue"
    NEVER_ROTATED = "never-rotated"
    HEALTHY = "healthy"


NEEDS_ATTENTION = frozenset({Health.STUCK, Health.OVERDUE})


@dataclass(frozen=True)
class Diagnosis:
    """The health, one sentence on why, the command that repairs it (when one does) and another
    way to repair it (finishing a stuck rotation)."""

    health: Health
    detail: str
    repair: str | None = None
    pending: str | None = None
    since: datetime | None = None
    alternative: str | None = None

    @property
    def needs_rotator(self) -> bool:
        """True when the repair names the ROTATOR placeholder."""
        return "ROTATOR" in (self.repair or "")


def rate(expression: str) -> tuple[int, str] | None:
    """A `rate(N hours)` or `rate(N days)` schedule (singular units too) as (N, "hours" or
    "days"); None for anything else (a cron() schedule, unknown text). Used by `rotate` to check
    a --schedule and here to read a secret's rules."""
    match = _RATE.fullmatch(expression.strip())
    if match is None:
        return None
    return int(match.group(1)), "hours" if match.group(2).startswith("hour") else "days"


def duration_hours(text: str) -> int | None:
    """A rotation window's `Duration` (`1h` to `24h`, Secrets Manager's range) in hours; None
    for anything else. Used by `rotate` to check --duration and here to read a secret's rules."""
    match = _DURATION.fullmatch(text.strip())
    hours = int(match.group(1)) if match else 0
    return hours if 1 <= hours <= 24 else None


def interval(rules: dict[str, object] | None) -> timedelta | None:
    """The time between rotations: AutomaticallyAfterDays, or a rate() ScheduleExpression.
    None for cron() schedules and unknown rules."""
    rules = rules or {}
    days = rules.get("AutomaticallyAfterDays")
    if isinstance(days, int) and days > 0:
        return timedelta(days=days)
    expression = rules.get("ScheduleExpression")
    parsed = rate(expression) if isinstance(expression, str) else None
    if parsed is not None:
        count, unit = parsed
        return timedelta(hours=count) if unit == "hours" else timedelta(days=count)
    return None


def window(rules: dict[str, object] | None) -> timedelta:
    """The rotation window: Duration when set, else one hour for hourly rates, else a day."""
    rules = rules or {}
    duration = rules.get("Duration")
    hours = duration_hours(duration) if isinstance(duration, str) else None
    if hours is not None:
        return timedelta(hours=hours)
    step = interval(rules)
    if step is not None and step < timedelta(days=1):
        return timedelta(hours=1)
    return timedelta(days=1)


def schedule_text(rules: dict[str, object] | None) -> str:
    """The schedule as written in the rules: `every 30 days`, `rate(4 hours)`, `cron(...)`."""
    rules = rules or {}
    parts = []
    expression = rules.get("ScheduleExpression")
    days = rules.get("AutomaticallyAfterDays")
    if isinstance(expression, str) and expression:
        parts.append(expression)
    elif isinstance(days, int) and days > 0:
        parts.append(f"every {days} days")
    duration = rules.get("Duration")
    if isinstance(duration, str) and duration:
        parts.append(f"window {duration}")
    return ", ".join(parts) if parts else "none"


def _due(description: SecretDescription) -> datetime | None:
    """When the current rotation window closes, if that is known."""
    rules = dict(description.rotation_rules)
    grace = window(rules)
    candidates = []
    if description.next_rotation is not None:
        candidates.append(utc(description.next_rotation) + grace)
    step = interval(rules)
    if description.last_rotated is not None and step is not None:
        candidates.append(utc(description.last_rotated) + step + grace)
    return min(candidates) if candidates else None


def _unfinished(
    description: SecretDescription,
    pending: str,
    now: datetime,
    *,
    since: datetime | None,
    stuck_after: timedelta,
    ref: str,
) -> Diagnosis:
    """Stuck or in progress: `pending` holds AWSPENDING without AWSCURRENT."""
    age_text = f" since {when(since, now)}" if since is not None else ""
    blocked = (
        'the next rotation fails with "A previous rotation isn\'t complete" until it is '
        "finished or cleaned up"
    )
    repair = f"smrotate cancel {ref} --cleanup --rotator ROTATOR"
    if not description.rotation_enabled:
        return Diagnosis(
            Health.STUCK,
            f"version {pending} holds AWSPENDING but not AWSCURRENT{age_text}, and rotation is "
            f"off, so nothing will finish it; {blocked}",
            repair,
            pending,
            since,
        )
    if since is None or now - since >= stuck_after:
        return Diagnosis(
            Health.STUCK,
            f"version {pending} holds AWSPENDING but not AWSCURRENT{age_text}, longer than a "
            f"rotation takes ({span(stuck_after)}); {blocked}",
            repair,
            pending,
            since,
            alternative=f"smrotate run {ref} --rotator ROTATOR --resume {pending}",
        )
    return Diagnosis(
        Health.IN_PROGRESS,
        f"version {pending} holds AWSPENDING{age_text}; a rotation is running (it counts as "
        f"stuck after {span(stuck_after)})",
        None,
        pending,
        since,
    )


def diagnose(
    description: SecretDescription,
    now: datetime,
    *,
    pending_since: datetime | None = None,
    stuck_after: timedelta = DEFAULT_STUCK_AFTER,
    secret_ref: str | None = None,
) -> Diagnosis:
    """The health of `description` at `now`.

    `pending_since` is when the unfinished version was created (ListSecretVersionIds), or the
    best bound known (LastChangedDate); `secret_ref` is how repair commands name the secret
    (its name by default).
    """
    ref = shlex.quote(secret_ref or description.name)
    pending = description.unfinished
    if pending is not None:
        since = utc(pending_since) if pending_since is not None else None
        return _unfinished(description, pending, now, since=since, stuck_after=stuck_after, ref=ref)
    if not description.rotation_enabled:
        turn_on = f"smrotate rotate {ref}" + (
            " (it runs the configured function)"
            if description.rotation_lambda_arn
            else " --lambda-arn FUNCTION_ARN --days 30"
        )
        return Diagnosis(Health.DISABLED, f"rotation is off; turn it on with: {turn_on}")
    due = _due(description)
    if due is not None and now > due:
        return Diagnosis(
            Health.OVERDUE,
            f"the rotation window closed {when(due, now)} without a rotation (last rotated: "
            f"{when(description.last_rotated, now)}); check the rotation function's logs",
            f"smrotate rotate {ref} --wait",
        )
    if description.last_rotated is None:
        return Diagnosis(
            Health.NEVER_ROTATED,
            "rotation is on but Secrets Manager has never rotated this secret",
            f"smrotate rotate {ref} --wait",
        )
    return Diagnosis(Health.HEALTHY, f"last rotated {when(description.last_rotated, now)}")
