"""Rotations of one secret started at the same instant from separate processes.

`race` forks one process per racer (the rotator is built in the child, from the caller's
factory, so nothing needs pickling); each child makes its own Secrets Manager client on a moto
server that the caller runs (`endpoint`), waits on a barrier with the others, then runs one
`LocalDriver.rotate` and sends back an `Outcome`. With `processes=False` the racers are
threads of this process instead, for targets that live in it (an in-memory test double); they
still talk to Secrets Manager over HTTP, each through its own client. A `Timing` can hold a
racer back before its first Secrets Manager write or its first change at the target, to open
the windows that a plain simultaneous start hits only now and then (`STAGGERED`: the first
racer is changing the password while the second one writes its new version).

Outcomes carry error types and messages, which hold no secret values (smrotate's contract for
every exception). Forking needs a platform that has it (Linux); `can_fork` tells.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from smrotate.rotator import Rotator
from smrotate.testing.kit.injection import STORE_WRITES, target_writes
from smrotate.testing.patience import scaled

RACE_TIMEOUT = 90.0


@dataclass(frozen=True)
class Timing:
    """Delays (seconds) for one racer: before its first Secrets Manager write, and before its
    first change at the target (for a PasswordRotator, its first password or user change)."""

    store_write: float = 0.0
    target_change: float = 0.0


SIMULTANEOUS = (Timing(), Timing())
# The first racer writes its version first and is slow to change the password; the second
# writes its version meanwhile: the window in which AWSPENDING used to move away.
STAGGERED = (Timing(store_write=0.03, target_change=0.3), Timing(store_write=0.15))


@dataclass(frozen=True)
class Outcome:
    """What one racer's rotation did."""

    token: str | None
    ok: bool
    refused: bool  # RotationInProgressError: refused or backed off before changing anything
    failed_step: str | None = None
    error: str | None = None  # "Type: message", no secret value

    def describe(self) -> str:
        """One line for reports."""
        if self.ok:
            return f"rotated (version {self.token})"
        where = f" at {self.failed_step}" if self.failed_step else ""
        kind = "refused" if self.refused else "failed"
        return f"{kind}{where}: {self.error}"


def can_fork() -> bool:
    """True where `race` can run (the platform forks processes)."""
    return "fork" in multiprocessing.get_all_start_methods()


def _delay_first(owner: Any, names: Sequence[str], seconds: float) -> None:
    """Make the first call to any of `owner`'s methods `names` wait `seconds` first."""
    if seconds <= 0:
        return
    fired: list[bool] = []
    for name in names:
        original = getattr(owner, name, None)
        if original is None:
            continue

        def wrapper(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            if not fired:
                fired.append(True)
                time.sleep(seconds)
            return _original(*args, **kwargs)

        setattr(owner, name, wrapper)


@dataclass(frozen=True)
class _Job:
    build: Callable[[], Rotator]
    client: Any  # a fresh Secrets Manager client on the endpoint, never used before
    secret_id: str
    timing: Timing


def _job(build: Callable[[], Rotator], endpoint: str, secret_id: str, timing: Timing) -> _Job:
    """Made in the calling thread: creating clients is not thread-safe, and a client made
    before the fork and never used holds no connection, so the child may use its copy."""
    import boto3

    from smrotate.store import client_config

    client = boto3.client("secretsmanager", endpoint_url=endpoint, config=client_config())
    return _Job(build, client, secret_id, timing)


def _racer(job: _Job, barrier: Any, conn: Connection) -> None:
    """The child: one rotation through its own client, started with the others."""
    from smrotate.store import reset_clients

    reset_clients()  # the parent's clients and cached values are not this process's
    conn.send(_rotate(job, barrier))
    conn.close()


def _rotate(job: _Job, barrier: Any) -> Outcome:
    """One racer's rotation; never raises."""
    outcome: Outcome
    try:
        from smrotate.errors import RotationInProgressError
        from smrotate.operator.driver import LocalDriver
        from smrotate.store import SecretStore

        rotator = job.build()
        rotator.store = SecretStore(job.client)
        _delay_first(rotator.store, STORE_WRITES, job.timing.store_write)
        _delay_first(rotator, target_writes(rotator), job.timing.target_change)
        driver = LocalDriver(rotator.handle, rotator.store)
        barrier.wait(RACE_TIMEOUT)
        try:
            result = driver.rotate(job.secret_id)
        except RotationInProgressError as exc:
            outcome = Outcome(None, ok=False, refused=True, error=_text(exc))
        else:
            error = result.error
            outcome = Outcome(
                result.token,
                ok=result.ok,
                refused=isinstance(error, RotationInProgressError),
                failed_step=result.failed_step.value if result.failed_step else None,
                error=None if error is None else _text(error),
            )
    except BaseException as exc:  # a racer must always report, whatever happened
        outcome = Outcome(None, ok=False, refused=False, error=_text(exc))
    return outcome


def _text(exc: BaseException) -> str:
    from smrotate import redaction

    return redaction.scrub(f"{type(exc).__name__}: {exc}")


def race(
    build: Callable[[], Rotator],
    endpoint: str,
    secret_id: str,
    timings: Sequence[Timing] = SIMULTANEOUS,
    *,
    processes: bool = True,
) -> list[Outcome]:
    """Rotate `secret_id` from one forked process (or thread) per entry of `timings`, at once.

    `build()` makes each racer's rotator (in the child); its store is replaced by one on
    `endpoint`, a moto server (or any Secrets Manager endpoint) that the caller runs. Returns
    the outcomes in the order of `timings`; a racer that does not report in time is stopped
    and reported as failed.
    """
    if not processes:
        return _race_threads(build, endpoint, secret_id, timings)
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(len(timings))
    racers = []
    for timing in timings:
        receiver, sender = context.Pipe(duplex=False)
        job = _job(build, endpoint, secret_id, timing)
        process = context.Process(target=_racer, args=(job, barrier, sender))
        process.start()
        sender.close()
        racers.append((process, receiver))
    outcomes = []
    deadline = time.monotonic() + scaled(RACE_TIMEOUT)
    for process, receiver in racers:
        outcome = Outcome(None, ok=False, refused=False, error="the racer timed out")
        if receiver.poll(max(0.0, deadline - time.monotonic())):
            try:
                outcome = receiver.recv()
            except EOFError:
                outcome = Outcome(None, ok=False, refused=False, error="the racer died")
        outcomes.append(outcome)
        receiver.close()
        process.join(5)
        if process.is_alive():
            process.kill()
            process.join()
    return outcomes


def _race_threads(
    build: Callable[[], Rotator], endpoint: str, secret_id: str, timings: Sequence[Timing]
) -> list[Outcome]:
    barrier = threading.Barrier(len(timings))
    outcomes: list[Outcome | None] = [None] * len(timings)

    def run(index: int, job: _Job) -> None:
        outcomes[index] = _rotate(job, barrier)

    threads = [
        threading.Thread(target=run, args=(i, _job(build, endpoint, secret_id, t)), daemon=True)
        for i, t in enumerate(timings)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(RACE_TIMEOUT)
    timed_out = Outcome(None, ok=False, refused=False, error="the racer timed out")
    return [outcome or timed_out for outcome in outcomes]
