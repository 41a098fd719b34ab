"""A fake clock for `smrotate rotate --wait` and the waves (`smrotate.operator.watch.Clock`):
time moves only when the code under test sleeps, so no test waits or depends on the machine's
speed. The `clock` fixture installs it; a test module may define its own `clock` instead."""

from __future__ import annotations

import pytest

from smrotate.operator import watch


class FakeClock:
    """Time that moves only when someone sleeps; `sleeps` lists each pause."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """watch.Clock on a FakeClock, for the test."""
    fake = FakeClock()
    real = watch.Clock
    monkeypatch.setattr(watch, "Clock", lambda: real(now=fake.now, sleep=fake.sleep))
    return fake
