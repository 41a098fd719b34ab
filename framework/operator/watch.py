"""`smrotate rotate --wait`: follow a rotation with DescribeSecret until it ends.

On AWS, RotateSecret returns at once and the function runs asynchronously; DescribeSecret shows
no "failed" state and no step. So the watch ends when:

- the new version holds AWSCURRENT: rotated;
- rotation is turned off, or the new version loses AWSPENDING without becoming AWSCURRENT:
  failed (cancelled or cleaned up under it);
- nothing visible changes (labels, LastChangedDate, rotation on/off) for `stall` seconds:
  stalled, which on AWS almost always means the function failed (its logs say why);
- `timeout` seconds pass: timed out.

`verdict` is the first two rules alone, for one look at the secret: `rotate --all` (waves.py)
applies it to every rotation it follows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from smrotate.operator.output import labels_text, span
from smrotate.store import CURRENT, PENDING, SecretDescription, SecretStore

HEARTBEAT = 30.0
STEPS = "createSecret, setSecret, testSecret, then finishSecret"


class Outcome(StrEnum):
    """How a watched rotation ended."""

    ROTATED = "rotated"
    FAILED = "failed"
    STALLED = "stalled"
    TIMED_OUT = "timed out"


@dataclass(frozen=True)
class WatchResult:
    """The outcome, one sentence on it, the seconds waited and the DescribeSecret calls made."""

    outcome: Outcome
    detail: str
    elapsed: float
    polls: int


@dataclass(frozen=True)
class Clock:
    """Time as the watch sees it (tests replace it)."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


def function_name(arn: str | None) -> str | None:
    """The function's name in a Lambda ARN (`...:function:NAME[:QUALIFIER]`), or a bare name."""
    if not arn:
        return None
    parts = arn.split(":")
    if len(parts) >= 7 and parts[0] == "arn" and parts[5] == "function":
        return parts[6]
    return arn if ":" not in arn else None


def log_group(arn: str | None) -> str | None:
    """The CloudWatch log group a Lambda function writes to: `/aws/lambda/NAME` (a qualifier
    does not change it)."""
    name = function_name(arn)
    return f"/aws/lambda/{name}" if name else None


def logs_hint(arn: str | None) -> str:
    """`its logs (log group /aws/lambda/NAME)`, or `its logs` when the function is unknown."""
    group = log_group(arn)
    return f"its logs (log group {group})" if group else "its logs"


def verdict(d: SecretDescription, token: str, *, first_look: bool) -> tuple[Outcome, str] | None:
    """Rotated or failed, as one DescribeSecret shows the rotation of `token`; None while it
    runs. The first look may not show the version yet (AWS is eventually consistent), so only a
    later one counts a missing AWSPENDING as a failure."""
    labels = d.labels(token)
    if CURRENT in labels:
        return Outcome.ROTATED, f"version {token} is AWSCURRENT"
    if not d.rotation_enabled:
        return (
            Outcome.FAILED,
            f"rotation of secret {d.name} was turned off before version {token} became "
            "AWSCURRENT (CancelRotateSecret?)",
        )
    if PENDING not in labels and not first_look:
        return (
            Outcome.FAILED,
            f"version {token} lost AWSPENDING without becoming AWSCURRENT: the rotation was "
            "cancelled or cleaned up",
        )
    return None


def _state(d: SecretDescription, token: str) -> tuple[object, ...]:
    return (d.rotation_enabled, d.labels(token), d.current, d.last_changed)


def progress(d: SecretDescription, token: str) -> str:
    """Where the rotation of `token` stands, as far as DescribeSecret shows it: Secrets Manager
    reports labels, not the function's step, so AWSPENDING means the function is somewhere
    between createSecret and finishSecret."""
    labels = d.labels(token)
    if not labels:
        return f"version {token} has no label yet (RotateSecret accepted it; not visible yet)"
    text = f"version {token}: {labels_text(labels)}"
    if PENDING in labels and CURRENT not in labels:
        text += f"; waiting for the rotation function ({STEPS} moves AWSCURRENT)"
    return text


def watch(
    store: SecretStore,
    secret_id: str,
    token: str,
    *,
    timeout: float,
    stall: float,
    interval: float,
    report: Callable[[str], None],
    clock: Clock | None = None,
    function_arn: str | None = None,
) -> WatchResult:
    """Poll DescribeSecret every `interval` seconds until the rotation of `token` ends.
    `function_arn` (the rotation function) names the log group in the stall message."""
    clock = clock or Clock()
    started = clock.now()
    last_change = started
    last_report = started
    previous: tuple[object, ...] | None = None
    polls = 0
    while True:
        d = store.describe(secret_id)
        polls += 1
        now = clock.now()
        elapsed = now - started
        state = _state(d, token)
        if state != previous:
            report(f"[{span_s(elapsed)}] {progress(d, token)}")
            previous, last_change, last_report = state, now, now
        ended = verdict(d, token, first_look=polls == 1)
        if ended is not None:
            return WatchResult(ended[0], ended[1], elapsed, polls)
        if now - last_change >= stall:
            return WatchResult(
                Outcome.STALLED,
                f"nothing changed for {span_s(now - last_change)}: the rotation function has "
                f"probably failed; {logs_hint(function_arn or d.rotation_lambda_arn)} say why",
                elapsed,
                polls,
            )
        if elapsed >= timeout:
            return WatchResult(
                Outcome.TIMED_OUT, f"version {token} is not AWSCURRENT yet", elapsed, polls
            )
        if now - last_report >= HEARTBEAT:
            report(f"[{span_s(elapsed)}] still waiting; no change for {span_s(now - last_change)}")
            last_report = now
        clock.sleep(max(0.0, min(interval, timeout - elapsed, stall - (now - last_change))))


def span_s(seconds: float) -> str:
    """A number of seconds, rounded for people."""
    return span(timedelta(seconds=seconds))
