"""Crash and fault injection at a rotator's write points.

Write points are every Secrets Manager write (each PutSecretValue, each UpdateSecretVersionStage)
and every write to the target: the subject's `write_points` (for the SQL rotators, the
driver's `Cursor.execute`: each statement sent), else each call of a PasswordRotator's write
hooks, or the whole setSecret hook of a plain Rotator. Every call the rotation makes through
botocore to another AWS service is one too, unless its name says it only reads (Get..., List...,
Describe...): IAM's CreateAccessKey, for a rotator whose target is AWS itself (`where` "aws").
A crash raises `SimulatedCrash`, a BaseException that the engine does not catch, just before or
just after the chosen point: the run ends there as if the process were killed. Driver methods,
and botocore's BaseClient._make_api_call, are patched on their class only while
`Injector.installed` is active.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from smrotate.password_rotator import WRITE_HOOKS, PasswordRotator
from smrotate.rotator import Rotator

STORE_WRITES = ("put_claim", "put_pending", "move_label", "remove_label")
# Operations of other AWS services that only read; any other operation is a write point.
AWS_READS = ("Get", "List", "Describe")


class SimulatedCrash(BaseException):
    """The rotation's process was killed at an injection point."""


# (owner, method name): a driver's method that sends one statement, wrapped on its class.
WritePoint = tuple[Any, str]


def aws_write(service: str, operation: str) -> bool:
    """True for a botocore call that is a write point: another service than Secrets Manager
    (whose writes the store's methods are), an operation that does not only read."""
    return service != "secretsmanager" and not operation.startswith(AWS_READS)


def target_writes(rotator: Rotator) -> tuple[str, ...]:
    """The rotator's hooks that change the target, one call per write point."""
    if isinstance(rotator, PasswordRotator):
        return WRITE_HOOKS
    return ("apply_pending",)


@dataclass(frozen=True)
class Point:
    """One write, as seen in a run: its place in the sequence, where and what it was."""

    index: int
    where: str  # "secretsmanager", "target" or "aws" (another AWS service, through botocore)
    method: str


@dataclass
class Injector:
    """Wraps a rotator's write points: records them, crashes at one, or raises a fault."""

    crash_at: int | None = None
    crash_after: bool = False
    fault: Callable[[Point], BaseException | None] | None = None
    points: list[Point] = field(default_factory=list)
    crashed: Point | None = None

    @contextmanager
    def installed(self, rotator: Rotator, points: Sequence[WritePoint] = ()) -> Iterator[Rotator]:
        """Wrap the store's writes (on the instance) and the target's: `points` (on their
        classes, restored on exit), else the rotator's write hooks (on the instance); and
        botocore's calls to other services (on BaseClient, restored on exit)."""
        from botocore.client import BaseClient

        for name in STORE_WRITES:
            self._wrap(rotator.store, name, "secretsmanager")
        restore = [(owner, name, owner.__dict__[name]) for owner, name in points]
        restore.append((BaseClient, "_make_api_call", BaseClient.__dict__["_make_api_call"]))
        try:
            for owner, name in points:
                self._wrap(owner, name, "target", f"{owner.__name__}.{name}")
            for name in () if points else target_writes(rotator):
                self._wrap(rotator, name, "target")
            self._wrap_aws(BaseClient)
            yield rotator
        finally:
            for owner, name, original in restore:
                setattr(owner, name, original)

    def _wrap_aws(self, client_class: Any) -> None:
        original = client_class._make_api_call

        def call(client: Any, operation: str, params: Any) -> Any:
            service = client.meta.service_model.service_name
            if not aws_write(service, operation):
                return original(client, operation, params)
            return self._at_point(
                "aws", f"{service}.{operation}", original, client, operation, params
            )

        client_class._make_api_call = call

    def _wrap(self, owner: Any, attribute: str, where: str, label: str | None = None) -> None:
        original, name = getattr(owner, attribute), label or attribute

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return self._at_point(where, name, original, *args, **kwargs)

        setattr(owner, attribute, wrapper)

    def _at_point(self, where: str, name: str, original: Any, *args: Any, **kwargs: Any) -> Any:
        """Record one write point, then fault, crash before, call, or crash after."""
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


def login_fault(rotator: Rotator, error: Callable[[], BaseException]) -> None:
    """Make the rotator's first login (or, for a plain Rotator, its setSecret) raise `error()`."""
    name = "login" if isinstance(rotator, PasswordRotator) else "apply_pending"
    original = getattr(rotator, name)
    calls = {"n": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise error()
        return original(*args, **kwargs)

    setattr(rotator, name, wrapper)
