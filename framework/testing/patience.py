"""Timeouts for the suite's own waits, scaled with how busy the machine is.

A wait that is ample on a quiet machine (a server starting, a racer finishing) can run out on
one that is running two suites at once. `scaled(seconds)` multiplies a timeout by the load per
core (the one-minute load average over the usable cores, at least 1, at most MAX_FACTOR), and
by SMROTATE_TEST_PATIENCE when it is set (a number, for slow machines and emulators). It only
ever lengthens a wait, so a test that passes quickly is unchanged; only the moment a stuck wait
gives up moves.
"""

from __future__ import annotations

import os

PATIENCE_ENV = "SMROTATE_TEST_PATIENCE"
MAX_FACTOR = 8.0


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def load_factor() -> float:
    """The one-minute load average per core, clamped to [1, MAX_FACTOR]; 1 where it is unknown."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return 1.0
    return min(MAX_FACTOR, max(1.0, load / cores()))


def scaled(seconds: float) -> float:
    """`seconds`, lengthened by the machine's load and by SMROTATE_TEST_PATIENCE.
    ValueError naming the variable when it is not a positive number."""
    raw = os.environ.get(PATIENCE_ENV, "").strip()
    extra = 1.0
    if raw:
        try:
            extra = float(raw)
        except ValueError:
            extra = -1.0
        if not extra > 0:
            raise ValueError(f"{PATIENCE_ENV} must be a positive number, such as 2; got {raw!r}")
    return seconds * load_factor() * extra
