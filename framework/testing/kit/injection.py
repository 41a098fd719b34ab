"""Crash and fault injection at a rotator's write points.

Write points are every Secrets Manager write (each PutSecretValue, each UpdateSecretVersionStage)
and every write to the target: each SQL statement of a DatabaseRotator (`execute`), each
password or user change of a PasswordRotator, or the whole setSecret hook of a plain Rotator.
A crash raises `SimulatedCrash`, a BaseException that the engine does not catch, just before
or just after the chosen point: the run ends there as if the process were killed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smrotate.database import DatabaseRotator
from smrotate.rotator import Rotator
from smrotate.strategies import PasswordRotator

STORE_WRITES = ("put_claim", "put_pending", "move_label", "remove_label")


class SimulatedCrash(BaseException):
    """The rotation's process was killed at an injection point."""


def target_writes(rotator: Rotator) -> tuple[str, ...]:
    """The rotator's methods that change the target, one call per write point."""
    if isinstance(rotator, DatabaseRotator):
        return ("execute",)
    if isinstance(rotator, PasswordRotator):
        return ("change_own_password", "set_password", "ensure_clone")
    return ("apply_pending",)


@dataclass(frozen=True)
class Point:
    """One write, as seen in a run: its place in the sequence, where and what it was."""

    index: int
    where: str  # "secretsmanager" or "target"
    method: str


@dataclass
class Injector:
    """Wraps a rotator's write points: records them, crashes at one, or raises a fault."""

    crash_at: int | None = None
    crash_after: bool = False
    fault: Callable[[Point], BaseException | None] | None = None
    points: list[Point] = field(default_factory=list)
    crashed: Point | None = None

    def install(self, rotator: Rotator) -> Rotator:
        """Wrap `rotator`'s and its store's write methods on the instances; return it."""
        for name in STORE_WRITES:
            self._wrap(rotator.store, name, "secretsmanager")
        for name in target_writes(rotator):
            self._wrap(rotator, name, "target")
        return rotator

    def _wrap(self, owner: Any, name: str, where: str) -> None:
        original = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            point = Point(len(self.points), where, name)
            self.points.append(point)
            if self.fault is not None:
                error = self.fault(point)
                if error is not None:
                    raise error
            if self.crash_at == point.index and not self.crash_after:
                self.crashed = point
                raise SimulatedCrash(f"crash before {where} write #{point.index} ({name})")
            result = original(*args, **kwargs)
            if self.crash_at == point.index and self.crash_after:
                self.crashed = point
                raise SimulatedCrash(f"crash after {where} write #{point.index} ({name})")
            return result

        setattr(owner, name, wrapper)


def login_fault(rotator: Rotator, error: Callable[[], BaseException]) -> None:
    """Make the rotator's first login (or, for a plain Rotator, its setSecret) raise `error()`."""
    name = "connect" if isinstance(rotator, DatabaseRotator) else "login"
    if not isinstance(rotator, PasswordRotator):
        name = "apply_pending"
    original = getattr(rotator, name)
    calls = {"n": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise error()
        return original(*args, **kwargs)

    setattr(rotator, name, wrapper)
