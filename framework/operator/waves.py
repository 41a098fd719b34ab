"""`smrotate rotate --all [--filter ...]`: RotateSecret for many secrets, a canary first, then
the rest under a concurrency cap and a request-rate cap.

The rotations run where they always do, in Secrets Manager and its Lambda function; this
command only starts them (RotateSecret) and follows them (DescribeSecret), one thread, no
scheduler of its own. The plan comes from ListSecrets alone (`fleet.survey`: one call per 100
secrets, with the rotation settings, dates and labels), and a secret is never started when it

- is scheduled for deletion (DeletedDate),
- holds AWSPENDING without AWSCURRENT (stuck or in progress, as health.py names it),
- has rotation off or no rotation function,
- was rotated less than `min_interval` ago (LastRotatedDate): every rotation adds a version,
  and Secrets Manager advises against frequent PutSecretValue.

ListSecrets may lag up to five minutes behind; RotateSecret itself refuses an unfinished
rotation or a deleted secret on AWS, and such a refusal is reported as skipped, not failed.

A rotation ends rotated when its version holds AWSCURRENT, failed when its AWSPENDING goes
away or rotation is turned off (`watch.verdict`), or when RotateSecret fails, and stuck when its
version still holds AWSPENDING `stuck_after` after RotateSecret. The canary wave (`canary`
secrets) must all rotate before anything else starts; then up to `max_concurrent` rotations
run at once, and no new one starts once more than `max_failures` have failed. Rotations already
running are followed to their end. Every request the command makes, retries included, first
takes a token from one bucket refilled at `rate` per second.

RotateSecret carries the secret's own RotationLambdaARN (as ListSecrets reported it) and no
rules: the configured function runs with the configured schedule, on AWS and on moto alike
(moto erases a function left out of the request).
"""

from __future__ import annotations

import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from smrotate.errors import StoreError
from smrotate.operator import watch
from smrotate.operator.exit_codes import DENIED_CODES, from_store_error
from smrotate.operator.fleet import FleetEntry
from smrotate.operator.health import DEFAULT_STUCK_AFTER, Health
from smrotate.operator.output import iso, note, span, table, utc, when
from smrotate.operator.progress import Progress
from smrotate.operator.rotate import denied
from smrotate.store import SecretDescription, SecretStore

CANARY = "canary"
MAIN = "main"
REFUSED_AT_START = frozenset({"InvalidRequestException"})


class Result(StrEnum):
    """What became of one secret."""

    ROTATED = "rotated"
    FAILED = "failed"
    STUCK = "stuck"
    RUNNING = "running"
    SKIPPED = "skipped"
    NOT_STARTED = "not started"
    WOULD_START = "would start"


FAILURES = frozenset({Result.FAILED, Result.STUCK})
STARTED = (Result.ROTATED, Result.FAILED, Result.STUCK, Result.RUNNING)  # in this order


@dataclass(frozen=True)
class WaveSettings:
    """How many at once, how fast, when to stop, what to leave alone."""

    canary: int = 1
    max_concurrent: int = 10
    rate: float = 10.0
    max_failures: int = 0
    min_interval: timedelta = timedelta(days=1)
    stuck_after: timedelta = DEFAULT_STUCK_AFTER
    interval: float = 2.0


@dataclass
class Item:
    """One secret of the plan, and what became of it."""

    description: SecretDescription
    result: Result
    detail: str = ""
    repair: str | None = None
    wave: str | None = None
    token: str | None = None
    started: float | None = None
    ended: float | None = None
    polls: int = 0
    next_poll: float = 0.0

    def record(self) -> dict[str, Any]:
        """JSON-ready data (no value: names, ids, words)."""
        elapsed = None
        if self.started is not None and self.ended is not None:
            elapsed = round(self.ended - self.started, 1)
        return {
            "name": self.description.name,
            "arn": self.description.arn,
            "result": self.result.value,
            "detail": self.detail,
            "repair": self.repair,
            "wave": self.wave,
            "version_id": self.token,
            "elapsed_seconds": elapsed,
            "last_rotated": iso(self.description.last_rotated),
        }


def skip_reason(
    entry: FleetEntry, now: datetime, min_interval: timedelta
) -> tuple[str, str | None] | None:
    """Why `entry` must not be started (and the repair, when one is known), or None."""
    d, diagnosis = entry.description, entry.diagnosis
    if d.deleted is not None:
        return f"scheduled for deletion ({when(d.deleted, now)})", None
    if diagnosis.health in (Health.STUCK, Health.IN_PROGRESS):
        return (
            f"{diagnosis.health.value}: version {diagnosis.pending} holds AWSPENDING without "
            "AWSCURRENT",
            diagnosis.repair,
        )
    if not d.rotation_enabled:
        return "rotation is off", diagnosis.repair
    if not d.rotation_lambda_arn:
        return "no rotation function", None
    if d.last_rotated is not None and now - utc(d.last_rotated) < min_interval:
        return (
            f"rotated {when(d.last_rotated, now)}, less than --min-interval "
            f"{span(min_interval)} ago",
            None,
        )
    return None


def plan(
    entries: Iterable[FleetEntry], now: datetime, min_interval: timedelta, canary: int
) -> list[Item]:
    """Every entry as an Item, in ListSecrets order: skipped with its reason, or to start in
    the canary wave (the first `canary` of them) or the main one."""
    items, planned = [], 0
    for entry in entries:
        reason = skip_reason(entry, now, min_interval)
        if reason is not None:
            items.append(Item(entry.description, Result.SKIPPED, reason[0], reason[1]))
            continue
        items.append(
            Item(entry.description, Result.WOULD_START, wave=CANARY if planned < canary else MAIN)
        )
        planned += 1
    return items


class TokenBucket:
    """At most `rate` requests per second: each takes a token, tokens come back at `rate` per
    second, and the bucket holds one, so requests are spaced 1/rate s apart at the least."""

    def __init__(self, rate: float, clock: watch.Clock) -> None:
        self.rate = rate
        self.clock = clock
        self.tokens = 1.0
        self.last = clock.now()
        self.calls: Counter[str] = Counter()

    def take(self, operation: str) -> None:
        """Wait (on the clock) for a token, then spend it on `operation`."""
        now = self.clock.now()
        self.tokens = min(1.0, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens < 1.0:
            self.clock.sleep((1.0 - self.tokens) / self.rate)
            self.tokens, self.last = 1.0, self.clock.now()
        self.tokens -= 1.0
        self.calls[operation] += 1

    def attach(self, store: SecretStore) -> None:
        """Make every HTTP request of the store's client (retries too) take a token first."""

        def before_send(event_name: str = "", **_: Any) -> None:
            self.take(event_name.rsplit(".", 1)[-1])

        store.client.meta.events.register("before-send", before_send)


@dataclass
class Waves:
    """The run: the plan's items, started and followed (see the module docstring)."""

    store: SecretStore
    items: list[Item]
    settings: WaveSettings
    clock: watch.Clock
    progress: Progress | None = None
    report: Callable[[str], None] = note
    stopped: str | None = None
    running: list[Item] = field(default_factory=list)
    results: Counter[Result] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.results = tally(self.items)

    def _set(self, item: Item, result: Result, detail: str) -> None:
        """Give `item` its result (the counts follow, without a pass over every item)."""
        self.results[item.result] -= 1
        self.results[result] += 1
        item.result, item.detail = result, detail

    def run(self) -> None:
        """The canary wave, then the rest; what was not started is marked so, with why."""
        todo = [i for i in self.items if i.result is Result.WOULD_START]
        canary = [i for i in todo if i.wave == CANARY]
        rest = [i for i in todo if i.wave != CANARY]
        try:
            if canary:
                names = ", ".join(i.description.name for i in canary)
                self._say(f"canary: rotating {len(canary)} secret(s) first: {names}")
                self._drive(deque(canary), CANARY, min(len(canary), self.settings.max_concurrent))
                if self.stopped is None and rest:
                    self._say(
                        f"canary rotated; rotating {len(rest)} more, {self.settings.max_concurrent}"
                        f" at a time, at most {self.settings.rate:g} requests/s"
                    )
            if self.stopped is None:
                self._drive(deque(rest), MAIN, self.settings.max_concurrent)
        except KeyboardInterrupt:
            self.stopped = "interrupted"
            for item in self.items:  # interrupted inside its RotateSecret: it may have started
                if item.result is Result.WOULD_START and item.started is not None:
                    self._set(item, Result.RUNNING, "")
                    self.running.append(item)
            for item in self.running:
                item.detail = (
                    f"interrupted while version {item.token} was rotating (or being started): it "
                    f"goes on in Secrets Manager; smrotate status {item.description.name} shows "
                    "how it ends"
                )
        finally:
            if self.progress is not None:
                self.progress.close()
        for item in self.items:
            if item.result is Result.WOULD_START:
                self._set(item, Result.NOT_STARTED, f"not started: {self.stopped}")

    def counts(self) -> Counter[Result]:
        """How many items have each result."""
        return +self.results

    def _failures(self) -> int:
        return sum(self.results[r] for r in FAILURES)

    def _say(self, text: str) -> None:
        if self.progress is not None:
            self.progress.message(text)
        else:
            self.report(text)

    def _show(self, force: bool = False) -> None:
        if self.progress is None:
            return
        c = self.counts()
        done = c[Result.ROTATED] + c[Result.FAILED] + c[Result.STUCK]
        failed = c[Result.FAILED] + c[Result.STUCK]
        self.progress.show(done, c[Result.ROTATED], failed, c[Result.RUNNING], force=force)

    def _drive(self, queue: deque[Item], wave: str, cap: int) -> None:
        """Start from `queue` while fewer than `cap` run and nothing stopped; poll the running
        rotation due first; until none runs."""
        while True:
            while queue and len(self.running) < cap and self.stopped is None:
                self._start(queue.popleft(), wave)
                self._check(wave)
            if not self.running:
                return
            item = min(self.running, key=lambda i: i.next_poll)
            wait = item.next_poll - self.clock.now()
            self._show()
            if wait > 0:
                self.clock.sleep(wait)
            self._poll(item)
            self._check(wave)

    def _check(self, wave: str) -> None:
        """Stop starting rotations after a canary failure or more than max_failures."""
        if self.stopped is not None:
            return
        failures = self._failures()
        if wave == CANARY and failures:
            self.stopped = "the canary failed"
        elif failures > self.settings.max_failures:
            self.stopped = (
                f"{failures} failed, more than --max-failures {self.settings.max_failures}"
            )
        if self.stopped is not None:
            waiting = f"; following the {len(self.running)} already running" if self.running else ""
            self._say(f"stopping: {self.stopped}{waiting}")

    def _start(self, item: Item, wave: str) -> None:
        d = item.description
        item.wave, item.token = wave, str(uuid.uuid4())
        item.started = self.clock.now()
        try:
            self.store.start_rotation(
                d.arn, token=item.token, lambda_arn=d.rotation_lambda_arn, immediately=True
            )
        except StoreError as exc:
            item.ended = self.clock.now()
            if exc.code in REFUSED_AT_START:
                self._set(item, Result.SKIPPED, f"refused at start: {exc}")
                item.token = None
                return
            if exc.code in DENIED_CODES:
                detail = f"{str(exc).rstrip('. ')}. {denied(d.arn, d.rotation_lambda_arn)}"
            else:  # one line, without an HTML error page, with what to check
                detail = " ".join(str(from_store_error(exc)).split())
                item.repair = f"smrotate status {d.name}"
            self._set(item, Result.FAILED, detail)
            self._say(f"FAILED {d.name}: {item.detail}")
            self._show(force=True)
            return
        self._set(item, Result.RUNNING, "started")
        item.next_poll = item.started
        self.running.append(item)

    def _poll(self, item: Item) -> None:
        if item.token is None or item.started is None:
            raise RuntimeError(f"{item.description.name} is polled but was never started")
        d = self.store.describe(item.description.arn)
        now = self.clock.now()
        item.polls += 1
        ended = watch.verdict(d, item.token, first_look=item.polls == 1)
        stuck_after = self.settings.stuck_after.total_seconds()
        if ended is None and now - item.started >= stuck_after:
            self._set(
                item,
                Result.STUCK,
                f"version {item.token} still holds AWSPENDING {watch.span_s(now - item.started)} "
                f"after RotateSecret (--stuck-after {span(self.settings.stuck_after)}); "
                f"{watch.logs_hint(d.rotation_lambda_arn)} say why",
            )
            item.repair = f"smrotate cancel {d.name} --cleanup --rotator ROTATOR"
        elif ended is not None and ended[0] is watch.Outcome.ROTATED:
            self._set(item, Result.ROTATED, f"AWSCURRENT after {watch.span_s(now - item.started)}")
        elif ended is not None:
            self._set(item, Result.FAILED, ended[1])
            item.repair = f"smrotate status {d.name}"
        else:
            item.next_poll = now + self.settings.interval
            return
        item.ended = now
        self.running.remove(item)
        if item.result is not Result.ROTATED:
            self._say(f"{item.result.value.upper()} {d.name}: {item.detail}")
        self._show(force=True)


def tally(items: Iterable[Item]) -> Counter[Result]:
    """How many of `items` have each result."""
    return Counter(i.result for i in items)


def summary(counts: Counter[Result]) -> dict[str, int]:
    """started / rotated / failed / stuck / running / skipped / not started / would start."""
    started = sum(counts[r] for r in STARTED)
    return {"started": started} | {r.value.replace(" ", "_"): counts[r] for r in Result}


def summary_line(counts: Counter[Result], total: int) -> str:
    """`1000 secrets: 949 started (948 rotated, 1 failed), 51 skipped`."""
    started = sum(counts[r] for r in STARTED)
    inner = ", ".join(f"{counts[r]} {r.value}" for r in STARTED if counts[r])
    parts = [f"{started} started" + (f" ({inner})" if inner else "")] if started else []
    parts += [f"{counts[r]} {r.value}" for r in (Result.SKIPPED, Result.NOT_STARTED) if counts[r]]
    if counts[Result.WOULD_START]:
        parts.insert(0, f"{counts[Result.WOULD_START]} would start")
    return f"{total} secret{'s' if total != 1 else ''}: " + (", ".join(parts) or "none")


def waves_table(items: Sequence[Item]) -> str:
    """Name, result, wave, version, detail: one row per secret."""
    rows = [
        [
            i.description.name,
            i.result.value,
            i.wave or "-",
            i.token or "-",
            i.detail + (f"; repair: {i.repair}" if i.repair else ""),
        ]
        for i in items
    ]
    return table(rows, ["name", "result", "wave", "version", "detail"])
