"""The pytest plugin (entry point `pytest11: smrotate`): the conformance kit's summary line.

pytest loads it in every project where smrotate is installed, so it must be harmless there:
importing it loads only pytest and this module (its parents, `smrotate` and
`smrotate.testing`, import nothing), and its one hook reads the kit's counts only when the
kit was imported by the run, and never raises. Under pytest-xdist each worker hands its
counts to the controller (`workeroutput`), which prints the sum.
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any

import pytest

RECORDER = "smrotate.testing.kit.recorder"
WORKER_KEY = "smrotate_kit"
_FROM_WORKERS: Counter[str] = Counter()


def _local_totals() -> Counter[str]:
    module = sys.modules.get(RECORDER)  # not imported: the kit did not run; import nothing
    return Counter(getattr(module, "TOTALS", None) or {})


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On an xdist worker: hand this worker's counts to the controller."""
    output = getattr(session.config, "workeroutput", None)
    if isinstance(output, dict):
        output[WORKER_KEY] = dict(_local_totals())


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """On the xdist controller: add a finished worker's counts."""
    _FROM_WORKERS.update(getattr(node, "workeroutput", {}).get(WORKER_KEY, {}))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print cases run, crash points injected and survived, when the kit ran."""
    totals = _local_totals() + _FROM_WORKERS
    if not totals["cases"]:
        return
    terminalreporter.section("smrotate conformance kit")
    terminalreporter.write_line(
        f"{totals['cases']} cases run, {totals['crash points']} crash points injected, "
        f"{totals['survived']} survived, {totals['failures injected']} target failures "
        f"injected, {totals['rotations']} full rotations checked"
    )
