"""`smrotate rotate --wait`: follow a rotation with DescribeSecret until it ends.

On AWS, RotateSecret returns at once and the function runs asynchronously; DescribeSecret shows
no "failed" state. So the watch ends when:

- the new version holds AWSCURRENT: rotated;
- rotation is turned off, or the new version loses AWSPENDING without becoming AWSCURRENT:
  failed (cancelled or cleaned up under it);
- nothing visible changes (labels, LastChangedDate, rotation on/off) for `stall` seconds:
  stalled, which on AWS almost always means the function failed (its logs say why);
- `timeout` seconds pass: timed out.
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


def _state(d: SecretDescription, token: str) -> tuple[object, ...]:
    return (d.rotation_enabled, d.labels(token), d.current, d.last_changed)


def _progress(d: SecretDescription, token: str) -> str:
    labels = d.labels(token)
    if not labels:
        return f"version {token} has no label yet"
    waiting = "waiting for the rotation function" if PENDING in labels else ""
    return f"version {token}: {labels_text(labels)}" + (f"; {waiting}" if waiting else "")


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
) -> WatchResult:
    """Poll DescribeSecret every `interval` seconds until the rotation of `token` ends."""
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
        labels = d.labels(token)
        state = _state(d, token)
        if state != previous:
            report(f"[{span_s(elapsed)}] {_progress(d, token)}")
            previous, last_change, last_report = state, now, now
        if CURRENT in labels:
            return WatchResult(Outcome.ROTATED, f"version {token} is AWSCURRENT", elapsed, polls)
        if not d.rotation_enabled:
            return WatchResult(
                Outcome.FAILED,
                f"rotation of secret {d.name} was turned off before version {token} became "
                "AWSCURRENT (CancelRotateSecret?)",
                elapsed,
                polls,
            )
        if PENDING not in labels and polls > 1:
            return WatchResult(
                Outcome.FAILED,
                f"version {token} lost AWSPENDING without becoming AWSCURRENT: the rotation was "
                "cancelled or cleaned up",
                elapsed,
                polls,
            )
        if now - last_change >= stall:
            return WatchResult(
                Outcome.STALLED,
                f"nothing changed for {span_s(now - last_change)}: the rotation function has "
                "probably failed; its logs say why",
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
